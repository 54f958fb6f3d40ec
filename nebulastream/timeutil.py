"""UTC time helpers: parsing user times, slot flooring and the one timestamp format we write."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

# No crypto price predates Bitcoin's genesis block: the lower bound of "all history".
EARLIEST_DAY = date(2009, 1, 3)


class TimeFormatError(ValueError):
    """A time given by a user that is neither RFC 3339 nor Unix seconds."""


class TimeRangeError(TimeFormatError):
    """A well-formed time whose UTC instant falls outside the calendar (years 1 to 9999)."""


def parse_time(value: str | int | float | datetime) -> datetime:
    """Parse RFC 3339 ('2026-11-01T00:00:00Z') or Unix seconds into an aware UTC datetime.

    A naive RFC 3339 value (no offset) is taken as UTC.
    """
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return _from_epoch(float(value), str(value))
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return _from_epoch(seconds, text)
    try:
        parsed = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise TimeFormatError(
            f"{value!r} is not a time: use RFC 3339 such as 2026-11-01T00:00:00Z "
            "or Unix seconds such as 1793491200."
        ) from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        # 0001-01-01T00:00:00+01:00 is a valid RFC 3339 text whose UTC instant is before year 1.
        raise TimeRangeError(f"{value!r} is out of range: UTC years 1 to 9999 only.") from None


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


def iso_z(moment: datetime) -> str:
    """The single text form of an instant that NebulaStream writes: RFC 3339, UTC, 'Z'.

    Milliseconds are always present so every raw line parses with the same pattern.
    """
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


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
