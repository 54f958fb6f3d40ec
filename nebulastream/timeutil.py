"""UTC time helpers: parsing user times, slot flooring and the one timestamp format we write."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from pydantic import PlainSerializer, WithJsonSchema

# No crypto price predates Bitcoin's genesis block: the lower bound of "all history".
EARLIEST_DAY = date(2009, 1, 3)


class TimeFormatError(ValueError):
    """A time given by a user that is neither RFC 3339 nor Unix seconds."""


class TimeRangeError(TimeFormatError):
    """Well-formed, but no such instant: not on the calendar (02-30) or outside years 1 to 9999."""


# The one definition of what a user may write for a time (the API's OpenAPI states it too):
# an RFC 3339 date-time, offset required, ASCII digits only; or non-negative Unix seconds.
# Nothing else that Python would parse: no `1_764_547_200`, no non-ASCII digits, no ISO week
# dates, no date without a time, no naive time.
RFC3339 = (
    r"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt]([01][0-9]|2[0-3]):[0-5][0-9]:"
    r"[0-5][0-9](\.[0-9]{1,9})?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])"
)
UNIX_SECONDS = r"[0-9]{1,11}(\.[0-9]{1,9})?"
TIME_PATTERN = f"^({RFC3339}|{UNIX_SECONDS})$"
_RFC3339 = re.compile(RFC3339)
_UNIX_SECONDS = re.compile(UNIX_SECONDS)
_HELP = "use RFC 3339 such as 2026-11-01T00:00:00Z or Unix seconds such as 1793491200."


def parse_time(value: str | int | float | datetime) -> datetime:
    """Parse RFC 3339 ('2026-11-01T00:00:00Z') or Unix seconds into an aware UTC datetime.

    A text must match TIME_PATTERN exactly; a naive datetime object is taken as UTC.
    """
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return _from_epoch(float(value), str(value))
    text = value
    if _UNIX_SECONDS.fullmatch(text):
        return _from_epoch(float(text), text)
    if not _RFC3339.fullmatch(text):
        raise TimeFormatError(f"{value!r} is not a time: {_HELP}")
    # More than 6 fractional digits: Python keeps microseconds, so the rest is cut, not rounded.
    date_part, _, rest = text.upper().partition("T")
    clock, fraction, offset = _split_clock(rest)
    try:
        parsed = datetime.fromisoformat(f"{date_part}T{clock}{fraction[:7]}{offset}")
    except ValueError:
        raise TimeRangeError(f"{value!r} is not a date on the calendar.") from None
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        # 0001-01-01T00:00:00+01:00 is a valid RFC 3339 text whose UTC instant is before year 1.
        raise TimeRangeError(f"{value!r} is out of range: UTC years 1 to 9999 only.") from None


def _split_clock(rest: str) -> tuple[str, str, str]:
    """'04:05:06.123456789+01:00' -> ('04:05:06', '.123456789', '+01:00')."""
    clock, rest = rest[:8], rest[8:]
    cut = next((i for i, c in enumerate(rest) if c in "Z+-"), len(rest))
    return clock, rest[:cut], rest[cut:]


def _from_epoch(seconds: float, text: str) -> datetime:
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        raise TimeFormatError(f"{text!r} is not a time: Unix seconds must be a finite number.")
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise TimeRangeError(f"{text!r} is out of range for a Unix time in seconds.") from None


def floor_to(moment: datetime, seconds: int) -> datetime:
    """Floor an aware datetime to a multiple of `seconds` since the Unix epoch (UTC)."""
    epoch = int(moment.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, tz=UTC)


def next_slot(now: datetime, seconds: int) -> datetime:
    """The next boundary of the `seconds` grid after `now` (a fetch slot, a job's next run)."""
    return floor_to(now, seconds) + timedelta(seconds=seconds)


def iso_z(moment: datetime) -> str:
    """The single text form of an instant that NebulaStream writes: RFC 3339, UTC, 'Z'.

    Milliseconds are always present so every raw line parses with the same pattern.
    """
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# An instant as answers carry it: RFC 3339 in UTC with a 'Z' and milliseconds, like the lake.
UtcTime = Annotated[
    datetime,
    PlainSerializer(iso_z, return_type=str),
    WithJsonSchema(
        {"type": "string", "format": "date-time", "examples": ["2026-11-28T04:05:00.000Z"]}
    ),
]


def compact(moment: datetime) -> str:
    """A key-safe form of an instant: 20261128T0405Z (seconds kept only when non-zero)."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y%m%dT%H%M%SZ" if moment.second else "%Y%m%dT%H%MZ")


def day_windows(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """Split [start, end) at UTC midnights into windows of at most one day."""
    windows: list[tuple[datetime, datetime]] = []
    cursor = start
    while cursor < end:
        midnight = floor_to(cursor, 86400) + timedelta(days=1)
        stop = min(midnight, end)
        windows.append((cursor, stop))
        cursor = stop
    return windows


def utcnow() -> datetime:
    return datetime.now(UTC)
