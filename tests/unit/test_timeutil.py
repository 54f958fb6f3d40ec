from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nebulastream.timeutil import (
    RFC3339,
    TIME_PATTERN,
    TimeFormatError,
    TimeRangeError,
    compact,
    day_windows,
    floor_to,
    iso_z,
    parse_time,
)


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-01T00:00:00Z",
        "2026-11-01T00:00:00+00:00",
        "2026-11-01T01:00:00+01:00",
        "1793491200",
        "1793491200.000",
        "2026-11-01t00:00:00z",
        "2026-11-01T00:00:00.000000000Z",
    ],
)
def test_rfc3339_and_unix_seconds_name_the_same_instant(text: str) -> None:
    assert parse_time(text) == datetime(2026, 11, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    [
        "yesterday",
        "2026-13-01T00:00:00Z",
        "",
        "nan",
        "1e30",
        "1_764_547_200",  # Python's int() and float() take underscores
        "\u0661\u0667\u0669\u0663\u0664\u0669\u0661\u0662\u0660\u0660",  # Arabic-Indic
        "\uff12\uff10\uff12\uff16-11-01T00:00:00Z",  # full-width digits
        "2026-W44-7T00:00:00Z",  # ISO week date: fromisoformat takes it
        "2026-305T00:00:00Z",  # ISO ordinal date
        "2026-11-01",  # a date is not an instant
        "2026-11-01T00:00:00",  # no offset: not RFC 3339
        "20261101T000000Z",  # ISO basic format
        " 1793491200",
        "-1",
        "+1793491200",
    ],
)
def test_only_rfc3339_and_unix_seconds_are_times(text: str) -> None:
    with pytest.raises(TimeFormatError, match=r"RFC 3339 .* or Unix seconds"):
        parse_time(text)


@pytest.mark.parametrize("text", ["2026-02-30T00:00:00Z", "2025-02-29T00:00:00Z"])
def test_a_well_formed_date_off_the_calendar_is_a_range_error(text: str) -> None:
    with pytest.raises(TimeRangeError, match="calendar"):
        parse_time(text)


rfc3339_texts = st.from_regex(f"^{RFC3339}$", fullmatch=True)


@given(rfc3339_texts)
def test_every_text_of_the_pattern_parses_or_is_off_the_calendar(text: str) -> None:
    try:
        moment = parse_time(text)
    except TimeRangeError:
        return
    assert moment.tzinfo is UTC
    assert iso_z(moment)[:4].isdigit()


@given(st.datetimes(min_value=datetime(2009, 1, 3), max_value=datetime(9998, 12, 31)))
def test_every_instant_we_write_reads_back(moment: datetime) -> None:
    aware = moment.replace(tzinfo=UTC, microsecond=moment.microsecond // 1000 * 1000)
    assert re.fullmatch(TIME_PATTERN, iso_z(aware))
    assert parse_time(iso_z(aware)) == aware


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
