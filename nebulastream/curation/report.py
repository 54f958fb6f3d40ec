"""The run report and quarantine records, built alike by both runners from the definition's SQL."""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from nebulastream.curation.definition import (
    DEVIATION_RULE,
    REJECT_RULES,
    SPIKE_RULE,
    US,
    CurationConfig,
)
from nebulastream.lake.layout import quarantine_key
from nebulastream.timeutil import iso_z

MAX_LISTED = 50  # ranges or points listed per coin; the counts always cover everything


def us_to_iso(value: int) -> str:
    return iso_z(datetime.fromtimestamp(value // US, tz=UTC).replace(microsecond=value % US))


@dataclass(frozen=True)
class Gap:
    coin: str
    start_us: int  # first missing slot
    end_us: int  # first slot present again (exclusive)


@dataclass(frozen=True)
class Spike:
    coin: str
    source: str
    ts_us: int
    price_usd: float
    prev_price: float | None
    next_price: float | None


@dataclass(frozen=True)
class Deviation:
    coin: str
    slot_us: int
    source_a: str
    price_a: float
    source_b: str
    price_b: float


@dataclass
class RunReport:
    """What one curation run did; written as JSON under reports/ and printed as a summary."""

    runner: str
    mode: str  # "incremental" or "full"
    lake: str
    started_at: str
    finished_at: str = ""
    seconds: float = 0.0
    batches_read: int = 0
    rows_read: int = 0
    rows_accepted: int = 0
    rows_quarantined: int = 0
    quarantined_by_rule: dict[str, int] = field(default_factory=dict)
    batches_changed: int = 0  # new or changed since the manifest (batches_read adds neighbours)
    batches_removed: int = 0  # in the manifest, gone from raw/
    rows_existing: int = 0  # rows the partitions this run rebuilt held before
    duplicates_dropped: int = 0
    rows_written: int = 0  # rows in the partitions this run wrote
    rows_added: int = 0  # net new curated rows
    partitions_written: list[str] = field(default_factory=list)
    partitions_deleted: list[str] = field(default_factory=list)
    quarantine_files: int = 0
    repaired: list[dict[str, str]] = field(default_factory=list)  # days rebuilt: damage found
    leftovers_removed: list[str] = field(default_factory=list)  # an interrupted run's temp files
    spikes: dict[str, Any] = field(default_factory=dict)
    deviations: dict[str, Any] = field(default_factory=dict)  # sources disagreeing on a slot
    gaps: dict[str, Any] = field(default_factory=dict)
    # Present / expected 5-minute slots per coin over the rebuilt days (docs/heal.md).
    completeness: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    rules: dict[str, str] = field(default_factory=dict)
    stage_seconds: dict[str, float] = field(default_factory=dict)  # where the time went

    def lap(self, stage: str, since: float) -> float:
        """Record the seconds spent in `stage` since `since`; returns now for the next lap."""
        now = time.perf_counter()
        self.stage_seconds[stage] = round(now - since, 3)
        return now

    def to_json(self) -> bytes:
        return (json.dumps(asdict(self), indent=2, sort_keys=False) + "\n").encode()

    def comparable(self) -> dict[str, Any]:
        """The report without what legitimately differs between runs: runner, lake, timing."""
        data = asdict(self)
        for name in ("runner", "lake", "started_at", "finished_at", "seconds", "stage_seconds"):
            data.pop(name)
        return data

    def summary(self) -> str:
        """A few readable lines for a terminal."""
        rejected = ", ".join(f"{k} {v}" for k, v in self.quarantined_by_rule.items() if v)
        days = self.partitions_written
        lines = [
            f"{self.mode} curation ({self.runner}) of {self.batches_read} raw batches in "
            f"{self.seconds:.2f} s"
            + (f" ({self.batches_changed} new or changed)" if self.mode == "incremental" else ""),
            f"  rows read {self.rows_read}, accepted {self.rows_accepted}, "
            f"quarantined {self.rows_quarantined}" + (f" ({rejected})" if rejected else ""),
            f"  duplicates dropped {self.duplicates_dropped}, rows written {self.rows_written} "
            f"(+{self.rows_added} new) in {len(days)} partition(s)"
            + (f" {days[0]} .. {days[-1]}" if days else ""),
        ]
        for repair in self.repaired:
            lines.append(f"  rebuilt from raw: {repair['file']} ({repair['reason']})")
        if self.partitions_deleted:
            lines.append(f"  partitions deleted (no valid rows left): {self.partitions_deleted}")
        if self.spikes.get("count"):
            lines.append(
                f"  spikes flagged (kept): {self.spikes['count']} "
                f"(factor {self.config.get('spike_factor')})"
            )
        if self.deviations.get("count"):
            lines.append(
                f"  sources disagree (kept): {self.deviations['count']} slot(s) beyond "
                f"{self.config.get('deviation_pct')} %"
            )
        for coin, info in self.completeness.get("by_coin", {}).items():
            lines.append(
                f"  completeness {coin}: {info['completeness']:.4f} "
                f"({info['present']}/{info['expected']} slots of the rebuilt days)"
            )
        for coin, info in self.gaps.get("by_coin", {}).items():
            shown = ", ".join(f"{a}..{b}" for a, b in info["ranges"][:3])
            more = info["range_count"] - min(3, len(info["ranges"]))
            lines.append(
                f"  gaps {coin}: {info['missing_slots']} missing slot(s) in "
                f"{info['range_count']} range(s)"
                + (f": {shown}" if shown else "")
                + (f" and {more} more" if more > 0 else "")
            )
        return "\n".join(lines)


def build_report(
    report: RunReport,
    *,
    config: CurationConfig,
    counts: Mapping[str | None, int],
    candidates: int,
    rows_existing: int,
    rows_written: int,
    days_written: Sequence[str],
    spikes: Iterable[Spike],
    deviations: Iterable[Deviation],
    gaps: Iterable[Gap],
    slot_counts: Sequence[Mapping[str, Any]] = (),
    touched: Sequence[tuple[str, int, int]] = (),
    earliest_day: str | None = None,
) -> RunReport:
    """Fill a report's figures from the definition's query results."""
    report.rows_read = sum(counts.values())
    report.rows_accepted = counts.get(None, 0)
    report.quarantined_by_rule = {rule.name: counts.get(rule.name, 0) for rule in REJECT_RULES}
    report.rows_quarantined = sum(report.quarantined_by_rule.values())
    report.rows_existing = rows_existing
    report.rows_written = rows_written
    report.duplicates_dropped = candidates - rows_written
    report.rows_added = rows_written - rows_existing
    report.partitions_written = list(days_written)
    report.spikes = _spikes(list(spikes))
    report.deviations = _deviations(list(deviations))
    report.gaps = _gaps(list(gaps), config)
    report.completeness = _completeness(slot_counts, touched, earliest_day, config)
    report.config = asdict(config)
    report.rules = {
        rule.name: rule.description for rule in (*REJECT_RULES, SPIKE_RULE, DEVIATION_RULE)
    }
    return report


def _by_coin(items: Sequence[Spike | Deviation]) -> dict[str, int]:
    return dict(Counter(item.coin for item in items))


def _spikes(spikes: list[Spike]) -> dict[str, Any]:
    return {
        "count": len(spikes),
        "by_coin": _by_coin(spikes),
        "points": [
            {
                "coin": s.coin,
                "source": s.source,
                "ts": us_to_iso(s.ts_us),
                "price_usd": s.price_usd,
                "prev_price": s.prev_price,
                "next_price": s.next_price,
            }
            for s in spikes[:MAX_LISTED]
        ],
    }


def _deviations(found: list[Deviation]) -> dict[str, Any]:
    return {
        "count": len(found),
        "by_coin": _by_coin(found),
        "slots": [
            {
                "coin": d.coin,
                "slot": us_to_iso(d.slot_us),
                d.source_a: d.price_a,
                d.source_b: d.price_b,
                "difference_pct": round(
                    abs(d.price_a - d.price_b) / min(d.price_a, d.price_b) * 100, 3
                ),
            }
            for d in found[:MAX_LISTED]
        ],
    }


def _gaps(gaps: list[Gap], config: CurationConfig) -> dict[str, Any]:
    slot = config.slot_seconds * US
    merged: dict[str, list[list[int]]] = {}
    for gap in sorted(gaps, key=lambda g: (g.coin, g.start_us)):
        ranges = merged.setdefault(gap.coin, [])
        if ranges and ranges[-1][1] == gap.start_us:  # the same gap across midnight
            ranges[-1][1] = gap.end_us
        else:
            ranges.append([gap.start_us, gap.end_us])
    return {
        "slot_seconds": config.slot_seconds,
        "by_coin": {
            coin: {
                "missing_slots": sum((end - start) // slot for start, end in ranges),
                "range_count": len(ranges),
                "ranges": [[us_to_iso(s), us_to_iso(e)] for s, e in ranges[:MAX_LISTED]],
            }
            for coin, ranges in merged.items()
        },
    }


def _completeness(
    counts: Sequence[Mapping[str, Any]],
    touched: Sequence[tuple[str, int, int]],
    earliest_day: str | None,
    config: CurationConfig,
) -> dict[str, Any]:
    """Per coin over the rebuilt days holding rows: slots present / expected.

    A day expects its 288 slots, except the coin's first day in the lake (from its first
    observation; known when that day is the lake's first) and the current day (up to the last
    slot any coin has on it), as nebulastream/completeness.py defines for the API.
    """
    slot = config.slot_seconds * US
    ends = {start: end for _, start, end in touched}
    last_on_day: dict[int, int] = {}
    for row in counts:
        day = int(row["day_us"])
        last_on_day[day] = max(last_on_day.get(day, 0), int(row["last_us"]) + slot)
    first_day_us = None
    if earliest_day is not None:
        first_day_us = int(datetime.fromisoformat(earliest_day).replace(tzinfo=UTC).timestamp())
        first_day_us *= US
    by_coin: dict[str, Any] = {}
    seen: dict[str, int] = {}
    for row in counts:
        coin, day = str(row["coin"]), int(row["day_us"])
        day_end = ends.get(day, day + 86400 * US)
        is_first = coin not in seen and first_day_us is not None and day <= first_day_us
        lo = int(row["first_us"]) if is_first else day
        hi = last_on_day[day] if day_end < day + 86400 * US else day + 86400 * US
        seen[coin] = day
        expected = max((hi - lo) // slot, int(row["present"]))
        entry = by_coin.setdefault(coin, {"expected": 0, "present": 0, "days": {}})
        entry["expected"] += expected
        entry["present"] += int(row["present"])
        entry["days"][us_to_iso(day)[:10]] = [int(row["present"]), expected]
    for entry in by_coin.values():
        entry["completeness"] = round(entry["present"] / entry["expected"], 6)
    return {"slot_seconds": config.slot_seconds, "by_coin": by_coin}


def quarantine_objects(rows: Iterable[Mapping[str, Any]]) -> dict[str, bytes]:
    """Rejected rows grouped into one JSON Lines object per raw batch (key mirrors raw/).

    Rows arrive ordered (definition.quarantine_sql), so both runners write the same bytes.
    """
    lines: dict[str, list[str]] = {}
    for row in rows:
        record = {name: _json_value(value) for name, value in row.items()}
        lines.setdefault(quarantine_key(str(row["raw_key"])), []).append(
            json.dumps(record, separators=(",", ":"), allow_nan=False)
        )
    return {key: ("\n".join(body) + "\n").encode() for key, body in lines.items()}


def _json_value(value: Any) -> Any:
    # Non-finite numbers are not JSON; keep them readable rather than failing the run.
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    return value
