"""The one curation pipeline: its stage order, over a small engine interface (DuckDB or Spark).

    lease -> sweep -> plan -> read -> check -> dedup -> write days -> quarantine -> report
          -> record (manifest) -> release

A curated day is a pure function of the raw batches that can feed it (definition.fed_days:
the partitions next to it). A run plans which days must be rebuilt — those fed by a raw batch
that is new, changed or gone since the manifest, and those whose curated file is missing,
unreadable or changed from outside — reads every batch feeding them, and rewrites them whole.
So re-curating a batch replaces every row it produced, an incremental run leaves the lake
exactly as `--full` would, and a damaged day is rebuilt from raw. The manifest (raw batch ->
version, curated day -> version written) is the only record of what was curated, on both
engines. Publishing is ordered so that a run that stops half-way is simply repeated by the
next one: curated days (each replaced atomically), quarantine, report, then the manifest.
"""

from __future__ import annotations

import io
import json
import logging
import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import pyarrow.parquet as pq

from nebulastream.curation.definition import (
    CurationConfig,
    Dialect,
    candidates_sql,
    changed_days_sql,
    checked_sql,
    curated_sql,
    deduped_sql,
    fed_days,
    feeding_partitions,
    touched_days,
)
from nebulastream.curation.lease import hold_lease
from nebulastream.curation.outputs import (
    JSON,
    VersionedLake,
    publish_results,
    store_report,
)
from nebulastream.curation.report import RunReport
from nebulastream.lake.bound import bound_of
from nebulastream.lake.layout import (
    CURATED,
    MANIFEST,
    QUARANTINE,
    RAW,
    RAW_BOUND,
    REPORTS,
    STAGING,
    curated_day,
    curated_key,
    raw_partition,
)
from nebulastream.lake.storage import LakeError, LocalLake
from nebulastream.schema import CURATED_COLUMNS
from nebulastream.timeutil import iso_z

log = logging.getLogger(__name__)
MANIFEST_VERSION = 2  # 1: raw batches only, curated rows without raw_key


class Engine(Protocol):
    """What the pipeline needs of an engine: tables by name, SQL, and day files written."""

    runner: str
    dialect: Dialect

    def load_raw(self, lake: VersionedLake, keys: Sequence[str]) -> None:
        """Make `raw_lines` (definition.RAW_INPUT_COLUMNS) the lines of these batches."""

    def register(self, name: str, rows: list[tuple[Any, ...]], columns: dict[str, str]) -> None:
        """A small table from Python rows; column types are 'string' or 'bigint'."""

    def create(self, name: str, sql: str) -> int:
        """Materialise the query as table `name`; returns its row count."""

    def rows(self, sql: str) -> list[dict[str, Any]]:
        """Run a query of the definition; rows as column -> value."""

    def write_days(self, lake: VersionedLake, sql: str) -> list[str]:
        """Write the rows of curated_sql() as one Parquet file per day; the days written."""

    def close(self) -> None: ...


@dataclass(frozen=True)
class Manifest:
    batches: dict[str, str]  # raw key -> version curated
    days: dict[str, str]  # curated day -> day_version() of the files this pipeline left


@dataclass
class Plan:
    """What one run rebuilds, and from what."""

    full: bool
    listing: dict[str, str]  # every raw batch -> its version now
    changed: list[str]  # batches new or changed since the manifest
    removed: list[str]  # batches in the manifest that are gone from raw/
    curated: dict[str, dict[str, str]]  # curated day -> its files (key -> version) now
    repairs: dict[str, str] = field(default_factory=dict)  # day -> why it is rebuilt
    days: list[str] = field(default_factory=list)  # curated days to rebuild, sorted
    inputs: list[str] = field(default_factory=list)  # raw batches feeding them, sorted
    reason: str = ""  # why a full rebuild, when it was not asked for


def load_manifest(lake: VersionedLake) -> Manifest | None:
    """The manifest; None before the first run or when it predates raw_key (rebuild all)."""
    if not lake.exists(MANIFEST):
        return None
    try:
        data = json.loads(lake.get(MANIFEST))
        batches = {str(k): str(v) for k, v in data["batches"].items()}
        version = data.get("version", 1)
        days = {str(k): str(v) for k, v in data.get("days", {}).items()}
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise LakeError(
            f"the curation manifest {MANIFEST} in {lake.uri} is unreadable ({error}); "
            "run `nebula transform --full` to rebuild it."
        ) from None
    if version < MANIFEST_VERSION:
        return None
    return Manifest(batches, days)


def save_manifest(lake: VersionedLake, manifest: Manifest) -> None:
    body = {
        "version": MANIFEST_VERSION,
        "batches": dict(sorted(manifest.batches.items())),
        "days": dict(sorted(manifest.days.items())),
    }
    lake.put(MANIFEST, json.dumps(body, separators=(",", ":")).encode(), JSON)


def _curated_files(lake: VersionedLake) -> dict[str, dict[str, str]]:
    days: dict[str, dict[str, str]] = {}
    for key, version in lake.versions(CURATED):
        day = curated_day(key)
        if day is not None:
            days.setdefault(day, {})[key] = version
    return days


def day_version(files: dict[str, str]) -> str:
    """One version for a day's files (normally just prices.parquet)."""
    return ",".join(f"{key.rsplit('/', 1)[-1]}:{version}" for key, version in sorted(files.items()))


def unreadable(data: bytes) -> str | None:
    """Why a curated day file cannot be used (None when it reads as the curated table)."""
    try:
        table = pq.read_table(io.BytesIO(data))
    except Exception as error:  # pyarrow raises several types for damaged files
        detail = str(error).split(". ")[0][:160]
        return f"not a readable Parquet file ({detail})"
    missing = [c for c in CURATED_COLUMNS if c not in table.column_names]
    return f"missing columns {', '.join(missing)}" if missing else None


def plan_run(lake: VersionedLake, config: CurationConfig, *, full: bool) -> Plan:
    """Compare raw/ and curated/ with the manifest: the days to rebuild and their inputs."""
    listing = {k: v for k, v in lake.versions(RAW) if raw_partition(k) is not None}
    curated = _curated_files(lake)
    manifest = None if full else load_manifest(lake)
    reason = ""
    if manifest is None and not full:
        if curated or lake.exists(MANIFEST):
            reason = (
                "the curation manifest is missing or predates this layout (rows now carry "
                "raw_key): rebuilding every day from raw"
            )
        else:  # a lake's first run: everything is new
            manifest = Manifest({}, {})
    if manifest is None:
        plan = Plan(True, listing, sorted(listing), [], curated, reason=reason)
        plan.days = sorted(_fed(listing, config) | set(curated))
        plan.inputs = sorted(listing)
        return plan

    changed = sorted(k for k, v in listing.items() if manifest.batches.get(k) != v)
    removed = sorted(k for k in manifest.batches if k not in listing)
    plan = Plan(False, listing, changed, removed, curated)
    for day, files in sorted(curated.items()):
        if manifest.days.get(day) != day_version(files):
            why = [problem for key in files if (problem := unreadable(lake.get(key)))]
            plan.repairs[day] = "; ".join(why) or "changed outside curation"
    for day in sorted(set(manifest.days) - set(curated)):
        plan.repairs[day] = "deleted outside curation"
    plan.days = sorted(_fed((*changed, *removed), config) | set(plan.repairs))
    feeding = {p for d in plan.days for p in feeding_partitions(d, config)}
    plan.inputs = sorted(k for k in listing if raw_partition(k) in feeding)
    return plan


def _fed(keys: Iterable[str], config: CurationConfig) -> set[str]:
    """The days the batches can reach (worked out once per partition: a year has 105k keys)."""
    partitions = {raw_partition(key) for key in keys}
    return {day for p in partitions if p is not None for day in fed_days(p, config)}


def sweep(lake: VersionedLake) -> list[str]:
    """What a killed run left behind: local temp files and Spark's staging output."""
    removed: list[str] = []
    if isinstance(lake, LocalLake):
        for prefix in (CURATED, QUARANTINE, REPORTS):
            removed += lake.sweep_temp_files(prefix)
        staging = lake.path(STAGING)
        if staging.exists():  # an empty one is what a finished Spark run leaves
            if any(path.is_file() for path in staging.rglob("*")):
                removed.append(STAGING)
            shutil.rmtree(staging, ignore_errors=True)
    else:
        for key in list(lake.list(STAGING)):
            lake.delete(key)
            removed.append(key)
    return removed


def _curated_before(lake: VersionedLake, plan: Plan) -> dict[str, tuple[int, set[str]]]:
    """Each readable curated day the run may rebuild: its row count and its rows' raw keys."""
    found = {}
    for day in plan.days:
        if day in plan.curated and day not in plan.repairs:
            rows, keys = 0, set()
            for key in plan.curated[day]:
                table = pq.read_table(io.BytesIO(lake.get(key)), columns=["raw_key"])
                rows += table.num_rows
                keys |= set(table["raw_key"].to_pylist())
            found[day] = (rows, keys)
    return found


def curate(
    lake: VersionedLake,
    engine: Engine,
    *,
    config: CurationConfig,
    now: datetime,
    full: bool = False,
    owner: str = "nebula transform",
    wait_seconds: float = 60.0,
    warn: Callable[[str], None] = log.warning,
) -> RunReport:
    """One curation run in the one stage order; returns its report (also stored in reports/)."""
    clock = time.perf_counter()
    with hold_lease(lake, owner=owner, wait_seconds=wait_seconds):
        report = RunReport(
            runner=engine.runner,
            mode="full" if full else "incremental",
            lake=lake.uri,
            started_at=iso_z(now),
        )
        lap = report.lap("lease", clock)
        report.leftovers_removed = sweep(lake)
        for key in report.leftovers_removed:
            warn(f"removed {key}, left behind by an interrupted run")
        plan = plan_run(lake, config, full=full)
        if plan.full and not full:
            report.mode = "full"
            warn(plan.reason)
        for day, why in plan.repairs.items():
            warn(f"{curated_key(day)}: {why}; rebuilding it from raw")
        report.repaired = [
            {"day": day, "file": curated_key(day), "reason": why}
            for day, why in plan.repairs.items()
        ]
        report.batches_read = len(plan.inputs)
        report.batches_changed = len(plan.changed)
        report.batches_removed = len(plan.removed)
        lap = report.lap("plan", lap)
        if plan.days:
            _rebuild(lake, engine, plan, report, config=config, now=now, lap=lap)
            days = {day: day_version(files) for day, files in _curated_files(lake).items()}
            save_manifest(lake, Manifest(plan.listing, days))
        if plan.days or not lake.exists(RAW_BOUND):
            record_raw_bound(lake, plan.listing, now)
        store_report(lake, report, clock)
    return report


def record_raw_bound(lake: VersionedLake, curated: Iterable[str], now: datetime) -> None:
    """After the manifest: the small object telling API queries how far raw/ is curated
    (lake/bound.py), so they read only the batches past it instead of days of raw."""
    lake.put(RAW_BOUND, bound_of(curated, now).to_json(), JSON)


def _rebuild(
    lake: VersionedLake,
    engine: Engine,
    plan: Plan,
    report: RunReport,
    *,
    config: CurationConfig,
    now: datetime,
    lap: float,
) -> None:
    d = engine.dialect
    before = _curated_before(lake, plan)
    engine.load_raw(lake, plan.inputs)
    lap = report.lap("read", lap)
    engine.create("checked", checked_sql(d, config, now))
    if not plan.full:
        # plan.days is every day the changed batches could reach; rebuild only those their
        # rows reach now or reached before (the curated rows' raw_key says where).
        gone = set(plan.changed) | set(plan.removed)
        engine.register("changed_batches", [(k,) for k in plan.changed], {"raw_key": "string"})
        reached = {row["dt"] for row in engine.rows(changed_days_sql(d))}
        reached |= {day for day, (_, keys) in before.items() if keys & gone}
        plan.days = sorted(day for day in plan.days if day in reached or day in plan.repairs)
    touched = touched_days(plan.days, now, config)
    engine.register(
        "touched_days",
        touched,
        {"dt": "string", "start_us": "bigint", "end_us": "bigint"},
    )
    candidates = engine.create("candidates", candidates_sql(d))
    rows_written = engine.create("deduped", deduped_sql())
    lap = report.lap("check+dedup", lap)
    written = engine.write_days(lake, curated_sql(d))
    emptied = [day for day in plan.days if day in plan.curated and day not in set(written)]
    for day in plan.days:
        # A rebuilt day is its one prices.parquet: any other file there (every file of a day
        # whose rows are all gone from raw or now rejected) would count its rows twice.
        for key in plan.curated.get(day, {}):
            if key != curated_key(day) or day in emptied:
                lake.delete(key)
    lap = report.lap("write", lap)
    publish_results(
        lake,
        engine.rows,
        report,
        config=config,
        batches=_unique((*plan.inputs, *plan.removed)),
        full=plan.full,
        candidates=candidates,
        rows_existing=sum(before[day][0] for day in plan.days if day in before),
        rows_written=rows_written,
        days_written=written,
        days_deleted=emptied,
        touched=touched,
        # The lake's first day: a coin's first day there counts from its first observation.
        earliest_day=min([*plan.curated, *plan.days], default=None),
    )
    report.lap("quarantine+report", lap)


def _unique(keys: Iterable[str]) -> list[str]:
    return sorted(set(keys))
