"""The rules a time range must follow, written once for the API's history and `nebula backfill`."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from nebulastream.timeutil import EARLIEST_DAY, floor_to, iso_z

# The last day a range may touch: the day after it would be year 10000.
LATEST_DAY = date(9998, 12, 31)


class RangeRuleError(ValueError):
    """A well-formed time range that breaks a rule; the message names the parameter to fix."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter


def check_order(lo: datetime, hi: datetime, start: str = "start", end: str = "end") -> None:
    """Ranges are half-open, [start, end): start must come first."""
    if lo >= hi:
        raise RangeRuleError(
            start,
            f"{start} ({iso_z(lo)}) must be before {end} ({iso_z(hi)}): the range is "
            f"[{start}, {end}).",
        )


def check_history(name: str, moment: datetime, given: str) -> None:
    """A bound must be a day that can hold prices (or the day after the last one)."""
    if not EARLIEST_DAY <= moment.date() <= LATEST_DAY:
        raise RangeRuleError(
            name,
            f"{name}={given[:40]!r} is out of range: use a time between {EARLIEST_DAY} and "
            f"{LATEST_DAY} (no crypto price is older than Bitcoin's genesis block).",
        )


def backfill_range(
    lo: datetime, hi: datetime, now: datetime, start: str = "start", end: str = "end"
) -> datetime:
    """Check [lo, hi) for a backfill and return its end, cut at the end of today.

    Whole UTC days keep window keys stable; days after today have no prices yet.
    """
    check_history(start, lo, iso_z(lo))
    check_order(lo, hi, start, end)
    end_of_today = floor_to(now, 86400) + timedelta(days=1)
    if lo >= end_of_today:
        raise RangeRuleError(
            start, f"{start} ({iso_z(lo)}) is in the future: there is nothing to load yet."
        )
    return min(hi, end_of_today)
