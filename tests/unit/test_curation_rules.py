"""Each data-quality rule, dedup, spikes and gaps of the definition on tiny inputs (DuckDB)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from nebulastream.curation.definition import (
    DUCKDB,
    CurationConfig,
    candidates_sql,
    checked_sql,
    deduped_sql,
    epoch_us,
    fed_days,
    feeding_partitions,
    gaps_sql,
    spikes_sql,
    touched_days,
)
from nebulastream.curation.rawfiles import RAW_INPUT_SCHEMA, parse_line

NOW = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)
GOOD: dict[str, Any] = {
    "raw_key": "raw/dt=2026-11-27/coingecko-spot-20261127T0000Z.jsonl",
    "coin": "BTC",
    "source": "coingecko",
    "price_usd": 95000.0,
    "market_cap_usd": 1.9e12,
    "volume_24h_usd": 3.8e10,
    "change_24h_pct": -1.25,
    "observed_at": "2026-11-27T00:00:03.000Z",
    "fetched_at": "2026-11-27T00:00:05.123Z",
    "slot": "2026-11-27T00:00:00.000Z",
    "corrupt_record": None,
}


def engine(
    rows: list[dict[str, Any]], config: CurationConfig | None = None, now: datetime = NOW
) -> Any:
    """A DuckDB connection holding the definition's `checked` stage over `rows`."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.register("raw_lines", pa.Table.from_pylist(rows, schema=RAW_INPUT_SCHEMA))
    con.execute(f"CREATE TABLE checked AS {checked_sql(DUCKDB, config or CurationConfig(), now)}")
    return con


def verdict(**changes: Any) -> str | None:
    rows = engine([{**GOOD, **changes}]).execute("SELECT rule FROM checked").fetchall()
    assert len(rows) == 1
    return rows[0][0]


def test_a_complete_plausible_observation_is_accepted() -> None:
    assert verdict() is None


def test_a_line_that_is_not_json_is_rejected_as_not_well_formed() -> None:
    row = parse_line(GOOD["raw_key"], b'{"coin":"BTC","price_usd":9')
    assert row["corrupt_record"] == '{"coin":"BTC","price_usd":9'
    changes = {k: None for k in GOOD if k != "raw_key"} | {"corrupt_record": row["corrupt_record"]}
    assert verdict(**changes) == "well_formed"


def test_a_field_of_the_wrong_type_makes_the_line_not_well_formed() -> None:
    assert parse_line("k", b'{"coin":"BTC","price_usd":"95000"}')["corrupt_record"] is not None
    assert parse_line("k", b"[1, 2]")["corrupt_record"] == "[1, 2]"
    assert parse_line("k", b'{"coin":"BTC","price_usd":95000}')["price_usd"] == 95000.0


@pytest.mark.parametrize(
    "line",
    [
        b'{"coin":"BTC","price_usd":1' + b"0" * 400 + b"}",  # valid JSON, beyond a double
        b"[" * 100_000 + b"]" * 100_000,  # valid JSON, deeper than Python's stack
    ],
    ids=["huge-integer", "deep-nesting"],
)
def test_json_python_cannot_hold_is_quarantined_not_a_crash(line: bytes) -> None:
    assert parse_line("k", line)["corrupt_record"] is not None


@pytest.mark.parametrize(
    "missing", ["coin", "source", "price_usd", "observed_at", "fetched_at", "slot"]
)
def test_each_required_field_missing_is_rejected(missing: str) -> None:
    assert verdict(**{missing: None}) == "required_fields"


def test_an_unparseable_timestamp_counts_as_missing() -> None:
    assert verdict(observed_at="yesterday") == "required_fields"


def test_an_empty_symbol_is_rejected() -> None:
    assert verdict(coin="") == "required_fields"


@pytest.mark.parametrize("price", [0.0, -3400.0, math.inf, -math.inf, math.nan])
def test_a_price_that_is_not_finite_and_positive_is_rejected(price: float) -> None:
    assert verdict(price_usd=price) == "price_finite_positive"


def test_missing_optional_measures_are_accepted() -> None:
    assert verdict(market_cap_usd=None, volume_24h_usd=None, change_24h_pct=None) is None


def test_an_observation_later_than_its_fetch_beyond_the_skew_is_rejected() -> None:
    assert verdict(observed_at="2026-11-27T00:02:06.000Z") == "ts_not_future"
    assert verdict(observed_at="2026-11-27T00:02:04.000Z") is None  # within 120 s of skew


def test_a_fetch_later_than_the_run_beyond_the_skew_is_rejected() -> None:
    later = {"observed_at": "2026-11-27T01:10:00.000Z", "fetched_at": "2026-11-27T01:10:01.000Z"}
    assert verdict(**later, slot="2026-11-27T01:10:00.000Z") == "ts_not_future"


def test_an_observation_far_before_its_batch_slot_is_rejected() -> None:
    assert verdict(observed_at="2026-11-20T00:00:03.000Z") == "ts_plausible_for_batch"
    assert verdict(observed_at="2026-11-26T23:30:00.000Z") is None  # stale by 30 min: fine


def test_a_backfill_point_a_day_or_more_after_its_window_start_is_rejected() -> None:
    row = {
        **GOOD,
        "observed_at": "2026-11-28T00:00:00.000Z",
        "fetched_at": "2026-11-28T00:00:05.000Z",
        "slot": "2026-11-27T00:00:00.000Z",
    }
    con = engine([row], now=datetime(2026, 11, 29, tzinfo=UTC))
    assert con.execute("SELECT rule FROM checked").fetchall() == [("ts_plausible_for_batch",)]


def test_lag_and_skew_are_configurable() -> None:
    strict = CurationConfig(max_lag_seconds=60)
    con = engine([{**GOOD, "observed_at": "2026-11-26T23:58:00.000Z"}], strict)
    assert con.execute("SELECT rule FROM checked").fetchall() == [("ts_plausible_for_batch",)]


def test_a_row_failing_several_rules_is_counted_under_the_first() -> None:
    assert verdict(price_usd=-1.0, observed_at="2026-11-20T00:00:03.000Z") == (
        "price_finite_positive"
    )


HISTORY_KEY = "raw/dt=2026-11-27/coingecko-history-BTC-20261127T0000Z-20261128T0000Z.jsonl"


def stages(
    rows: list[dict[str, Any]],
    config: CurationConfig | None = None,
    days: tuple[str, ...] = ("2026-11-26", "2026-11-27", "2026-11-28"),
) -> Any:
    """The `checked`, `candidates` and `deduped` stages over `rows`, rebuilding `days`."""
    config = config or CurationConfig()
    con = engine(rows, config)
    spans = touched_days(list(days), NOW, config)
    con.register(
        "touched_days",
        pa.table(
            {
                "dt": [s[0] for s in spans],
                "start_us": pa.array([s[1] for s in spans], pa.int64()),
                "end_us": pa.array([s[2] for s in spans], pa.int64()),
            }
        ),
    )
    con.execute(f"CREATE TABLE candidates AS {candidates_sql(DUCKDB)}")
    con.execute(f"CREATE TABLE deduped AS {deduped_sql()}")
    return con


def dedup(rows: list[dict[str, Any]], **kwargs: Any) -> list[tuple[Any, ...]]:
    return (
        stages(rows, **kwargs)
        .execute(
            "SELECT coin, ts_us, market_cap_usd, fetched_us, raw_key FROM deduped ORDER BY coin, ts_us"
        )
        .fetchall()
    )


def spot_key(minute: int) -> str:
    return f"raw/dt=2026-11-27/coingecko-spot-20261127T00{minute:02d}Z.jsonl"


def test_duplicates_keep_the_latest_fetched_row() -> None:
    first = {**GOOD, "market_cap_usd": 1.0}
    again = {
        **GOOD,
        "raw_key": spot_key(5),
        "slot": "2026-11-27T00:05:00.000Z",
        "market_cap_usd": 2.0,
        "fetched_at": "2026-11-27T00:05:05.000Z",
    }
    rows = dedup([again, first])
    assert [(r[2], r[3], r[4]) for r in rows] == [
        (2.0, epoch_us(datetime(2026, 11, 27, 0, 5, 5, tzinfo=UTC)), spot_key(5))
    ]


def test_duplicates_from_the_same_fetch_resolve_the_same_whatever_their_order() -> None:
    a = {**GOOD, "market_cap_usd": 1.0}
    b = {**GOOD, "market_cap_usd": 2.0, "raw_key": HISTORY_KEY}
    assert dedup([a, b]) == dedup([b, a])


def test_rows_of_other_sources_or_instants_are_not_duplicates() -> None:
    rows = dedup(
        [
            GOOD,
            {**GOOD, "source": "coinbase"},
            {**GOOD, "observed_at": "2026-11-27T00:00:04Z", "raw_key": HISTORY_KEY},
        ]
    )
    assert len(rows) == 3


def test_a_spot_batch_keeps_one_observation_per_coin_the_latest_fetch() -> None:
    older = {**GOOD, "observed_at": "2026-11-27T00:00:01.000Z", "market_cap_usd": 1.0}
    newer = {
        **GOOD,
        "observed_at": "2026-11-27T00:00:02.000Z",
        "fetched_at": "2026-11-27T00:00:09.000Z",
        "market_cap_usd": 2.0,
    }
    eth = {**GOOD, "coin": "ETH"}
    assert [(r[0], r[2]) for r in dedup([older, newer, eth])] == [("BTC", 2.0), ("ETH", 1.9e12)]


def test_a_backfill_window_keeps_every_instant() -> None:
    rows = [
        {**GOOD, "raw_key": HISTORY_KEY, "observed_at": f"2026-11-27T00:0{m}:00.000Z"}
        for m in range(3)
    ]
    assert len(dedup(rows)) == 3


def test_a_rejected_row_never_displaces_a_valid_one() -> None:
    later_but_bad = {**GOOD, "price_usd": -1.0, "fetched_at": "2026-11-27T00:06:00.000Z"}
    assert [r[2] for r in dedup([GOOD, later_but_bad])] == [GOOD["market_cap_usd"]]


def test_an_older_fetch_in_another_batch_does_not_replace_a_later_one() -> None:
    later = {**GOOD, "raw_key": HISTORY_KEY, "market_cap_usd": 7.0}
    later["fetched_at"] = "2026-11-27T00:09:00.000Z"
    assert [r[2] for r in dedup([later, GOOD])] == [7.0]
    assert [r[2] for r in dedup([GOOD, later])] == [7.0]


def test_only_rows_on_the_rebuilt_days_are_candidates() -> None:
    yesterday = {**GOOD, "observed_at": "2026-11-26T23:59:00.000Z"}  # within the lag
    rows = dedup([yesterday, {**GOOD, "coin": "ETH"}], days=("2026-11-27",))
    assert [r[0] for r in rows] == ["ETH"]


def test_a_batch_whose_slot_is_not_on_its_partition_day_is_rejected() -> None:
    assert verdict(raw_key="raw/dt=2026-11-25/coingecko-spot-20261127T0000Z.jsonl") == (
        "slot_on_batch_day"
    )
    assert verdict(raw_key="raw/coingecko-spot-20261127T0000Z.jsonl") == "slot_on_batch_day"


def test_a_partition_feeds_the_day_before_itself_and_the_day_after_by_default() -> None:
    config = CurationConfig()
    assert fed_days("2026-11-27", config) == ["2026-11-26", "2026-11-27", "2026-11-28"]
    assert feeding_partitions("2026-11-27", config) == ["2026-11-26", "2026-11-27", "2026-11-28"]
    no_lag = CurationConfig(max_lag_seconds=0, batch_span_seconds=3600)
    assert fed_days("2026-11-27", no_lag) == ["2026-11-27", "2026-11-28"]
    assert feeding_partitions("2026-11-27", no_lag) == ["2026-11-26", "2026-11-27"]


def _deduped_prices(prices: list[float], config: CurationConfig) -> Any:
    rows = [
        {
            **GOOD,
            "raw_key": spot_key(5 * i),
            "price_usd": p,
            "observed_at": f"2026-11-27T00:{5 * i:02d}:03.000Z",
            "fetched_at": f"2026-11-27T00:{5 * i:02d}:05.000Z",
            "slot": f"2026-11-27T00:{5 * i:02d}:00.000Z",
        }
        for i, p in enumerate(prices)
    ]
    return stages(rows, config)


def test_a_one_point_excursion_is_flagged_as_a_spike_but_a_step_is_not() -> None:
    config = CurationConfig(spike_factor=1.5)
    con = _deduped_prices([100.0, 101.0, 300.0, 102.0, 103.0, 250.0, 251.0], config)
    spikes = con.execute(spikes_sql(config)).fetchall()
    assert [(row[3], row[4], row[5]) for row in spikes] == [(300.0, 101.0, 102.0)]


def test_a_drop_is_a_spike_too_and_the_factor_is_configurable() -> None:
    prices = [100.0, 40.0, 100.0, 70.0, 100.0]
    lenient, strict = CurationConfig(spike_factor=2.0), CurationConfig(spike_factor=1.2)
    assert [
        r[3] for r in _deduped_prices(prices, lenient).execute(spikes_sql(lenient)).fetchall()
    ] == [40.0]
    assert [
        r[3] for r in _deduped_prices(prices, strict).execute(spikes_sql(strict)).fetchall()
    ] == [40.0, 100.0, 70.0]


def test_gaps_are_missing_slots_between_the_start_of_the_day_and_now() -> None:
    config = CurationConfig()
    prices = [100.0] * 4  # slots 00:00, 00:05, 00:10, 00:15
    con = _deduped_prices(prices, config)
    con.execute("DELETE FROM deduped WHERE ts_us % 3600000000 // 60000000 = 5")  # lose 00:05
    now = datetime(2026, 11, 27, 0, 30, 10, tzinfo=UTC)
    spans = touched_days(["2026-11-27"], now, config)
    con.register(
        "touched_days",
        pa.table(
            {
                "dt": [s[0] for s in spans],
                "start_us": [s[1] for s in spans],
                "end_us": [s[2] for s in spans],
            }
        ),
    )
    gaps = con.execute(gaps_sql(config)).fetchall()
    minute = 60 * 1_000_000
    day = epoch_us(datetime(2026, 11, 27, tzinfo=UTC))
    # 00:05 is missing; 00:20 and 00:25 have not come; 00:30 is the current slot.
    assert gaps == [
        ("BTC", day + 5 * minute, day + 10 * minute),
        ("BTC", day + 20 * minute, day + 30 * minute),
    ]


def test_touched_days_end_at_the_current_slot_today_and_at_midnight_before() -> None:
    now = datetime(2026, 11, 27, 0, 7, 30, tzinfo=UTC)
    (yesterday, today) = touched_days(["2026-11-26", "2026-11-27"], now, CurationConfig())
    assert yesterday[2] == epoch_us(datetime(2026, 11, 27, tzinfo=UTC))
    assert today[2] == epoch_us(datetime(2026, 11, 27, 0, 5, tzinfo=UTC))


def test_a_spike_factor_of_one_or_less_is_refused() -> None:
    with pytest.raises(ValueError, match="spike_factor"):
        CurationConfig(spike_factor=1.0)
