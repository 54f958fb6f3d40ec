"""What both engines publish beside the curated days, from the same queries: quarantine, report."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

from nebulastream import completeness
from nebulastream.curation.definition import (
    CurationConfig,
    counts_sql,
    deviations_sql,
    gaps_sql,
    quarantine_sql,
    slot_counts_sql,
    spikes_sql,
)
from nebulastream.curation.report import (
    Deviation,
    Gap,
    RunReport,
    Spike,
    build_report,
    quarantine_objects,
)
from nebulastream.lake.layout import COVERAGE, QUARANTINE, quarantine_key, report_key
from nebulastream.lake.storage import LakeStorage
from nebulastream.timeutil import iso_z

JSONL = "application/x-ndjson"
JSON = "application/json"
PARQUET = "application/vnd.apache.parquet"

# Runs one of the definition's queries on the runner's engine: rows as column -> value.
Query = Callable[[str], list[dict[str, Any]]]


@runtime_checkable
class VersionedLake(LakeStorage, Protocol):
    """A lake that can tell whether an object changed (LocalLake and S3Lake can)."""

    def versions(self, prefix: str) -> Iterator[tuple[str, str]]: ...


def publish_quarantine(
    lake: LakeStorage, objects: Mapping[str, bytes], processed: Iterable[str], *, full: bool
) -> int:
    """Write each batch's rejected rows, replacing what an earlier run wrote for it.

    A reprocessed batch that is clean now loses its old quarantine file; a full run also
    removes the files of batches that are gone from raw/. Returns the files written.
    """
    present = set(lake.list(QUARANTINE))
    stale = present if full else {quarantine_key(key) for key in processed} & present
    for key in sorted(stale - objects.keys()):
        lake.delete(key)
    for key, data in sorted(objects.items()):
        lake.put(key, data, JSONL)
    return len(objects)


def store_report(lake: LakeStorage, report: RunReport, clock: float) -> str:
    """Stamp the report's end and store it, a run's last act; returns its key."""
    report.finished_at = iso_z(datetime.now(UTC))
    report.seconds = round(time.perf_counter() - clock, 3)
    key = report_key(datetime.fromisoformat(report.started_at), report.runner)
    lake.put(key, report.to_json(), JSON)
    return key


def record_coverage(lake: LakeStorage, counts: list[dict[str, Any]], found_gaps: list[Gap]) -> None:
    """The rebuilt days' present slots in reports/_state/coverage.json (completeness.py), so
    the heal function finds recent gaps with one GET instead of an Athena query."""
    fresh = completeness.day_entries(
        [(r["coin"], r["day_us"], r["present"], r["first_us"], r["last_us"]) for r in counts],
        [(g.coin, g.start_us, g.end_us) for g in found_gaps],
    )
    old = json.loads(lake.get(COVERAGE)) if lake.exists(COVERAGE) else {}
    state = completeness.merge_state(old, fresh)
    lake.put(COVERAGE, json.dumps(state, separators=(",", ":")).encode(), JSON)


def publish_results(
    lake: LakeStorage,
    query: Query,
    report: RunReport,
    *,
    config: CurationConfig,
    batches: Iterable[str],
    full: bool,
    candidates: int,
    rows_existing: int,
    rows_written: int,
    days_written: list[str],
    days_deleted: list[str],
    touched: list[tuple[str, int, int]] | None = None,
    earliest_day: str | None = None,
) -> None:
    """After the curated days are in place: quarantine and the report's figures.

    Both engines call this with their `query`, so quarantine files and reports are built
    from the same queries by the same code.
    """
    report.quarantine_files = publish_quarantine(
        lake, quarantine_objects(query(quarantine_sql())), batches, full=full
    )
    report.partitions_deleted = list(days_deleted)
    found_gaps = [Gap(**row) for row in query(gaps_sql(config))]
    counts = query(slot_counts_sql(config))
    record_coverage(lake, counts, found_gaps)
    build_report(
        report,
        config=config,
        counts={row["rule"]: int(row["n"]) for row in query(counts_sql())},
        candidates=candidates,
        rows_existing=rows_existing,
        rows_written=rows_written,
        days_written=days_written,
        spikes=[Spike(**row) for row in query(spikes_sql(config))],
        deviations=[Deviation(**row) for row in query(deviations_sql(config))],
        gaps=found_gaps,
        slot_counts=counts,
        touched=touched or [],
        earliest_day=earliest_day,
    )
