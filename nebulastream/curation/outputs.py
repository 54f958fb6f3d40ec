"""What both runners do to the lake around the curated files: quarantine, pruning, the manifest."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

from nebulastream.curation.definition import (
    CurationConfig,
    counts_sql,
    gaps_sql,
    quarantine_sql,
    spikes_sql,
)
from nebulastream.curation.report import (
    Gap,
    RunReport,
    Spike,
    build_report,
    quarantine_objects,
)
from nebulastream.lake.layout import (
    CURATED,
    MANIFEST,
    QUARANTINE,
    RAW,
    curated_day,
    curated_key,
    quarantine_key,
    report_key,
)
from nebulastream.lake.storage import LakeError, LakeStorage
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


def curated_days(lake: LakeStorage) -> dict[str, str]:
    """The curated days present in the lake: day -> key of its file."""
    days = {}
    for key in lake.list(CURATED):
        day = curated_day(key)
        if day is not None:
            days[day] = key
    return days


def prune_curated(lake: LakeStorage, keep: set[str]) -> list[str]:
    """Delete curated days not in `keep` (a full run found no valid row for them)."""
    gone = sorted(day for day in curated_days(lake) if day not in keep)
    for day in gone:
        lake.delete(curated_key(day))
    return gone


def load_manifest(lake: LakeStorage) -> dict[str, str]:
    """Raw batch key -> the version curated last time (empty before the first run)."""
    if not lake.exists(MANIFEST):
        return {}
    try:
        data = json.loads(lake.get(MANIFEST))
        batches = data["batches"]
    except (ValueError, KeyError, TypeError) as error:
        raise LakeError(
            f"the curation manifest {MANIFEST} in {lake.uri} is unreadable ({error}); "
            "run `nebula transform --full` to rebuild it."
        ) from None
    return {str(k): str(v) for k, v in batches.items()}


def pending(listing: Mapping[str, str], done: Mapping[str, str]) -> list[str]:
    """Raw batches that are new or changed (a retried slot, a grown backfill window)."""
    return [key for key, version in listing.items() if done.get(key) != version]


def save_manifest(lake: LakeStorage, batches: Mapping[str, str]) -> None:
    body = {"version": 1, "batches": dict(sorted(batches.items()))}
    lake.put(MANIFEST, json.dumps(body, separators=(",", ":")).encode(), JSON)


@dataclass(frozen=True)
class Selection:
    """The raw batches one local run curates, and what to record once it has."""

    keys: list[str]  # to curate, sorted
    listing: dict[str, str]  # every raw batch -> its version now
    done: dict[str, str]  # the manifest before the run ({} for a full run)


def select_batches(lake: VersionedLake, *, full: bool) -> Selection:
    """Every raw batch for a full run, else those new or changed since the manifest."""
    listing = dict(lake.versions(RAW))
    done = {} if full else load_manifest(lake)
    return Selection(sorted(listing) if full else pending(listing, done), listing, done)


def record_batches(lake: LakeStorage, selection: Selection, *, full: bool) -> None:
    """Add the curated batches to the manifest (a full run replaces it); the local bookmark."""
    if selection.keys or full:
        done = {**selection.done, **{key: selection.listing[key] for key in selection.keys}}
        save_manifest(lake, done)


def store_report(lake: LakeStorage, report: RunReport, clock: float) -> str:
    """Stamp the report's end and store it, a run's last act; returns its key."""
    report.finished_at = iso_z(datetime.now(UTC))
    report.seconds = round(time.perf_counter() - clock, 3)
    key = report_key(datetime.fromisoformat(report.started_at), report.runner)
    lake.put(key, report.to_json(), JSON)
    return key


def publish_results(
    lake: LakeStorage,
    query: Query,
    report: RunReport,
    *,
    config: CurationConfig,
    batches: Iterable[str],
    full: bool,
    rows_existing: int,
    rows_written: int,
    days_written: list[str],
) -> None:
    """After the curated days are in place: quarantine, pruning (full runs) and the figures.

    Both runners call this with their engine's `query`, so quarantine files and reports are
    built from the same queries by the same code.
    """
    report.quarantine_files = publish_quarantine(
        lake, quarantine_objects(query(quarantine_sql())), batches, full=full
    )
    if full:
        report.partitions_deleted = prune_curated(lake, set(days_written))
    build_report(
        report,
        config=config,
        counts={row["rule"]: int(row["n"]) for row in query(counts_sql())},
        rows_existing=rows_existing,
        rows_written=rows_written,
        days_written=days_written,
        spikes=[Spike(**row) for row in query(spikes_sql(config))],
        gaps=[Gap(**row) for row in query(gaps_sql(config))],
    )
