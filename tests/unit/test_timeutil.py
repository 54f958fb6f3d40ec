from __future__ import annotations

from datetime import UTC, datetime

import pytest

from nebulastream.timeutil import TimeFormatError, compact, day_windows, floor_to, iso_z, parse_time


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-01T00:00:00Z",
        "2026-11-01T00:00:00+00:00",
        "2026-11-01T01:00:00+01:00",
        "1793491200",
        "2026-11-01T00:00:00",
    ],
)
def test_rfc3339_and_unix_seconds_name_the_same_instant(text: str) -> None:
    assert parse_time(text) == datetime(2026, 11, 1, tzinfo=UTC)


@pytest.mark.parametrize("text", ["yesterday", "2026-13-01T00:00:00Z", "", "nan", "1e30"])
def test_malformed_times_say_which_formats_work(text: str) -> None:
    with pytest.raises(TimeFormatError):
        parse_time(text)


@pytest.mark.parametrize("text", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_offsets_that_leave_the_calendar_are_out_of_range_not_a_crash(text: str) -> None:
    with pytest.raises(TimeFormatError, match="out of range"):
        parse_time(text)


def test_slots_floor_to_the_interval_since_the_epoch() -> None:
    assert floor_to(datetime(2026, 11, 28, 4, 9, 59, 999, tzinfo=UTC), 300) == datetime(
        2026, 11, 28, 4, 5, tzinfo=UTC
    )
    assert floor_to(datetime(2026, 11, 28, 4, 10, tzinfo=UTC), 300) == datetime(
        2026, 11, 28, 4, 10, tzinfo=UTC
    )


def test_written_instants_have_one_format() -> None:
    assert iso_z(datetime(2026, 11, 28, 4, 5, tzinfo=UTC)) == "2026-11-28T04:05:00.000Z"
    assert compact(datetime(2026, 11, 28, 4, 5, tzinfo=UTC)) == "20261128T0405Z"
    assert compact(datetime(2026, 11, 28, 4, 5, 7, tzinfo=UTC)) == "20261128T040507Z"


def test_day_windows_split_at_utc_midnight() -> None:
    start = datetime(2026, 11, 26, 18, tzinfo=UTC)
    end = datetime(2026, 11, 28, 6, tzinfo=UTC)
    assert day_windows(start, end) == [
        (start, datetime(2026, 11, 27, tzinfo=UTC)),
        (datetime(2026, 11, 27, tzinfo=UTC), datetime(2026, 11, 28, tzinfo=UTC)),
        (datetime(2026, 11, 28, tzinfo=UTC), end),
    ]
