"""Completeness of the 5-minute grid: expected slots, present slots and gaps, per coin and day.

The one definition used by the curation report, `/coins`, `/health` and `nebula heal`:

- a slot is `floor(ts, 300)`; it is present when ANY source has an observation in it;
- a coin's expected slots run from its first observation's slot up to the lake's last
  fetched slot (the newest slot any coin has), so the first day counts from the coin's first
  observation and the current day up to the last fetch;
- a gap is a maximal run of expected slots without an observation, as a [start, end) range
  in Unix seconds; a slot recorded as unrecoverable stays a gap;
- completeness = present / expected over a range (None when nothing is expected there).

`query.sql.slot_breaks` finds, in one statement on DuckDB or Athena, only where each coin's
run of present slots breaks; everything else here is arithmetic on those few rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

SLOT_SECONDS = 300
DAY_SECONDS = 86400

Range = tuple[int, int]  # [start, end) in Unix seconds, on the slot grid


@dataclass(frozen=True)
class Coverage:
    """One coin's present slots, told by their first and last slot and the holes between."""

    coin: str
    first_slot: int  # Unix seconds of the coin's first present slot
    last_slot: int  # ... and of its last
    present: int  # distinct present slots
    holes: tuple[Range, ...]  # missing ranges between present slots, oldest first


def coverage_from_rows(
    rows: Iterable[Sequence[Any]], step: int = SLOT_SECONDS
) -> dict[str, Coverage]:
    """Coverage per coin from `sql.slot_breaks` rows (coin, slot, next_slot, present, first)."""
    holes: dict[str, list[Range]] = {}
    found: dict[str, Coverage] = {}
    for coin, slot, next_slot, present, first in rows:
        slot = int(slot)
        if next_slot is None:
            found[coin] = Coverage(coin, int(first), slot, int(present), ())
        else:
            holes.setdefault(coin, []).append((slot + step, int(next_slot)))
    return {
        coin: Coverage(c.coin, c.first_slot, c.last_slot, c.present, tuple(holes.get(coin, ())))
        for coin, c in found.items()
    }


def lake_end(coverages: Iterable[Coverage], step: int = SLOT_SECONDS) -> int | None:
    """The end (exclusive) of the expected grid: just after the newest slot any coin has."""
    last = [c.last_slot for c in coverages]
    return max(last) + step if last else None


def gaps(
    coverage: Coverage,
    end: int,
    *,
    within: Range | None = None,
    step: int = SLOT_SECONDS,
) -> list[Range]:
    """The coin's gaps up to `end` (the lake's end), clipped to `within` when given."""
    ranges = list(coverage.holes)
    if coverage.last_slot + step < end:
        ranges.append((coverage.last_slot + step, end))
    if within is None:
        return ranges
    lo, hi = within
    return [(max(a, lo), min(b, hi)) for a, b in ranges if min(b, hi) > max(a, lo)]


def expected(coverage: Coverage, end: int, *, within: Range | None = None) -> Range | None:
    """The coin's expected slots [first slot, end), clipped to `within`; None if empty."""
    lo, hi = coverage.first_slot, end
    if within is not None:
        lo, hi = max(lo, within[0]), min(hi, within[1])
    return (lo, hi) if hi > lo else None


def slots(ranges: Iterable[Range], step: int = SLOT_SECONDS) -> int:
    return sum((b - a) // step for a, b in ranges)


@dataclass(frozen=True)
class Measure:
    """Completeness of one coin over one range."""

    expected: int
    present: int
    gaps: list[Range]

    @property
    def missing(self) -> int:
        return self.expected - self.present

    @property
    def completeness(self) -> float | None:
        return self.present / self.expected if self.expected else None


def measure(
    coverage: Coverage, end: int, *, within: Range | None = None, step: int = SLOT_SECONDS
) -> Measure:
    """Expected and present slots and the gaps of one coin, over `within` (default: all)."""
    span = expected(coverage, end, within=within)
    if span is None:
        return Measure(0, 0, [])
    holes = gaps(coverage, end, within=span, step=step)
    total = (span[1] - span[0]) // step
    return Measure(total, total - slots(holes, step), holes)


def by_day(coverage: Coverage, end: int, step: int = SLOT_SECONDS) -> dict[date, Measure]:
    """Completeness per UTC day of the coin's expected range (288 slots on a whole day)."""
    days: dict[date, Measure] = {}
    day = coverage.first_slot - coverage.first_slot % DAY_SECONDS
    while day < end:
        found = measure(coverage, end, within=(day, day + DAY_SECONDS), step=step)
        if found.expected:
            days[datetime.fromtimestamp(day, tz=UTC).date()] = found
        day += DAY_SECONDS
    return days


def seconds(moment: datetime) -> int:
    return int(moment.timestamp())


def utc(value: int) -> datetime:
    return datetime.fromtimestamp(value, tz=UTC)


def last(days: int, now: datetime, step: int = SLOT_SECONDS) -> Range:
    """The slots of the last `days` days up to now's slot (exclusive), as a range."""
    hi = seconds(now) - seconds(now) % step
    return hi - int(timedelta(days=days).total_seconds()), hi


# -- the coverage state: what the curation run knows, for a heal that runs no query ------------
#
# reports/_state/coverage.json, written by each curation run for the days it rebuilt:
#   {"version": 1, "coins": {"BTC": {"2026-12-05": [first, last, present, [[a, b], ...]]}}}
# (Unix seconds: the day's first and last present slot, its present slots, the gaps between).
# The heal function reads this one small object instead of paying for an Athena query an hour.

STATE_DAYS = 3  # days kept per coin: the heal function's window (heal.RECENT_DAYS) and a spare

DayEntry = tuple[int, int, int, list[Range]]


def day_entries(
    counts: Iterable[Sequence[Any]], gaps_found: Iterable[Sequence[Any]], us: int = 1_000_000
) -> dict[str, dict[str, DayEntry]]:
    """Per coin and day: (first, last, present, holes) from the curation run's slot counts
    (coin, day_us, present, first_us, last_us) and gap ranges (coin, start_us, end_us)."""
    entries: dict[str, dict[str, DayEntry]] = {}
    found = sorted((str(c), int(a) // us, int(b) // us) for c, a, b in gaps_found)
    for coin, day_us, present, first_us, last_us in counts:
        first, last = int(first_us) // us, int(last_us) // us
        holes = [(a, b) for c, a, b in found if c == coin and a > first and b <= last]
        day = utc(int(day_us) // us).date().isoformat()
        entries.setdefault(str(coin), {})[day] = (first, last, int(present), holes)
    return entries


def merge_state(old: dict[str, Any], fresh: dict[str, dict[str, DayEntry]]) -> dict[str, Any]:
    """The state with the rebuilt days replaced, keeping each coin's newest STATE_DAYS days."""
    coins: dict[str, dict[str, Any]] = {
        coin: dict(days) for coin, days in old.get("coins", {}).items()
    }
    for coin, days in fresh.items():
        for day, (first, last, present, holes) in days.items():
            coins.setdefault(coin, {})[day] = [first, last, present, [list(h) for h in holes]]
    kept = {
        coin: {day: days[day] for day in sorted(days)[-STATE_DAYS:]} for coin, days in coins.items()
    }
    return {"version": 1, "coins": kept}


def coverage_from_state(state: dict[str, Any], step: int = SLOT_SECONDS) -> dict[str, Coverage]:
    """Coverage per coin over the days the state holds (a missing day is a hole)."""
    found = {}
    for coin, days in state.get("coins", {}).items():
        ordered = [days[d] for d in sorted(days)]
        if not ordered:
            continue
        holes: list[Range] = []
        for i, (first, _, _, day_holes) in enumerate(ordered):
            if i and first > ordered[i - 1][1] + step:
                holes.append((ordered[i - 1][1] + step, first))
            holes.extend((int(a), int(b)) for a, b in day_holes)
        present = sum(int(entry[2]) for entry in ordered)
        found[coin] = Coverage(coin, int(ordered[0][0]), int(ordered[-1][1]), present, tuple(holes))
    return found
