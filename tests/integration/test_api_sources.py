"""Queries know sources: `source=best` serves each 5-minute slot from the best-ranked source
that has it, a named source only its own rows; buckets are OHLC over candles and points."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nebulastream.query import service
from nebulastream.query.duckdb import DuckDBEngine
from nebulastream.query.service import Interval
from nebulastream.timeutil import iso_z
from tests.integration.api_lake import client_for, settings_for
from tests.lake_fixtures import Row, utc, write_curated

NOW = utc("2026-11-28T00:10:00Z")
DAY = utc("2026-11-27T00:00:00Z")


def point(minute: float, price: float, source: str = "coingecko") -> Row:
    return Row("BTC", DAY + timedelta(minutes=minute), price, source=source)


def candle(minute: int, o: float, h: float, low: float, c: float, source: str = "coinbase") -> Row:
    return Row(
        "BTC",
        DAY + timedelta(minutes=minute),
        c,
        market_cap_usd=None,
        volume_24h_usd=None,
        change_24h_pct=None,
        source=source,
        open_usd=o,
        high_usd=h,
        low_usd=low,
        span_seconds=300,
        volume_usd=c * 2.0,
    )


ROWS = [
    # CoinGecko points: one in slot 00:00, two in slot 00:05 (a backfill's grid)
    point(1, 100.0),
    point(6.5, 101.0),
    point(7.5, 102.0),
    # Coinbase candles 00:00-00:15; slots 00:00 and 00:05 overlap CoinGecko's
    candle(0, 99.0, 105.0, 98.0, 100.5),
    candle(5, 100.5, 103.0, 100.0, 101.5),
    candle(10, 101.5, 104.0, 97.0, 103.0),
    candle(15, 103.0, 106.0, 102.5, 105.5),
    # Bitstamp: 00:10 overlaps Coinbase, 00:20 is its own
    candle(10, 101.0, 108.0, 96.0, 102.0, source="bitstamp"),
    candle(20, 105.5, 107.0, 104.0, 106.0, source="bitstamp"),
]


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sources-lake")
    write_curated(root, ROWS)
    return root


@pytest.fixture(scope="module")
def client(lake: Path) -> Iterator[TestClient]:
    engine = DuckDBEngine(lake, recheck_seconds=0)
    with client_for(engine, settings_for(lake, coins=["BTC"]), now=NOW) as client:
        yield client
    engine.close()


def ask(client: TestClient, interval: str = "5m", **params: str) -> httpx.Response:
    """/prices/history of BTC over the lake's hour."""
    return client.get(
        "/prices/history",
        params={
            "coin": "BTC",
            "start": "2026-11-27T00:00:00Z",
            "end": "2026-11-27T01:00:00Z",
            "interval": interval,
            **params,
        },
    )


def history(client: TestClient, interval: str = "5m", **params: str) -> list[dict[str, object]]:
    answer = ask(client, interval, **params)
    assert answer.status_code == 200, answer.text
    points: list[dict[str, object]] = answer.json()["points"]
    return points


def ohlc(points: list[dict[str, object]]) -> list[tuple[object, ...]]:
    keys = ("ts", "open", "high", "low", "close", "samples", "sources")
    return [tuple(p[k] for k in keys) for p in points]


def test_best_serves_each_slot_from_the_first_source_by_priority_with_no_doubled_samples(
    client: TestClient,
) -> None:
    assert ohlc(history(client)) == [
        ("2026-11-27T00:00:00.000Z", 100.0, 100.0, 100.0, 100.0, 1, ["coingecko"]),
        ("2026-11-27T00:05:00.000Z", 101.0, 102.0, 101.0, 102.0, 2, ["coingecko"]),
        ("2026-11-27T00:10:00.000Z", 101.5, 104.0, 97.0, 103.0, 1, ["coinbase"]),
        ("2026-11-27T00:15:00.000Z", 103.0, 106.0, 102.5, 105.5, 1, ["coinbase"]),
        ("2026-11-27T00:20:00.000Z", 105.5, 107.0, 104.0, 106.0, 1, ["bitstamp"]),
    ]


def test_a_wider_bucket_is_ohlc_over_the_picked_points_and_candles(client: TestClient) -> None:
    # open: CoinGecko's 00:01 price (its slot beat Coinbase's 00:00 candle); high and low: the
    # candles' own; close: Bitstamp's 00:20 close; samples: one per picked row.
    assert ohlc(history(client, "1h")) == [
        (
            "2026-11-27T00:00:00.000Z",
            100.0,
            107.0,
            97.0,
            106.0,
            6,
            ["bitstamp", "coinbase", "coingecko"],
        )
    ]


def test_one_source_answers_exactly_its_own_candles(client: TestClient) -> None:
    assert ohlc(history(client, source="coinbase")) == [
        ("2026-11-27T00:00:00.000Z", 99.0, 105.0, 98.0, 100.5, 1, ["coinbase"]),
        ("2026-11-27T00:05:00.000Z", 100.5, 103.0, 100.0, 101.5, 1, ["coinbase"]),
        ("2026-11-27T00:10:00.000Z", 101.5, 104.0, 97.0, 103.0, 1, ["coinbase"]),
        ("2026-11-27T00:15:00.000Z", 103.0, 106.0, 102.5, 105.5, 1, ["coinbase"]),
    ]
    assert [p["close"] for p in history(client, source="bitstamp")] == [102.0, 106.0]


def test_the_priority_setting_decides_best(lake: Path) -> None:
    engine = DuckDBEngine(lake, recheck_seconds=0)
    configured = settings_for(lake, coins=["BTC"], source_priority="bitstamp,coinbase")
    with client_for(engine, configured, now=NOW) as client:
        picked = [(p["ts"], p["sources"]) for p in history(client)]
    engine.close()
    # sources left out of the setting still serve, after the ones it names
    assert picked == [
        ("2026-11-27T00:00:00.000Z", ["coinbase"]),
        ("2026-11-27T00:05:00.000Z", ["coinbase"]),
        ("2026-11-27T00:10:00.000Z", ["bitstamp"]),
        ("2026-11-27T00:15:00.000Z", ["coinbase"]),
        ("2026-11-27T00:20:00.000Z", ["bitstamp"]),
    ]


def test_latest_takes_the_newest_slot_and_says_its_source(client: TestClient) -> None:
    def latest(**params: str) -> tuple[object, ...]:
        (price,) = client.get("/prices/latest", params=params).json()["prices"]
        return price["ts"], price["price_usd"], price["source"]

    assert latest() == ("2026-11-27T00:20:00.000Z", 106.0, "bitstamp")
    assert latest(source="coingecko") == ("2026-11-27T00:07:30.000Z", 102.0, "coingecko")
    assert latest(source="coinbase") == ("2026-11-27T00:15:00.000Z", 105.5, "coinbase")


def test_coins_gives_each_sources_first_last_and_rows(client: TestClient) -> None:
    (btc,) = client.get("/coins").json()["coins"]
    assert (btc["first_ts"], btc["last_ts"], btc["rows"]) == (
        "2026-11-27T00:00:00.000Z",
        "2026-11-27T00:20:00.000Z",
        len(ROWS),
    )
    assert btc["sources"] == [
        {
            "source": "bitstamp",
            "first_ts": "2026-11-27T00:10:00.000Z",
            "last_ts": "2026-11-27T00:20:00.000Z",
            "rows": 2,
        },
        {
            "source": "coinbase",
            "first_ts": "2026-11-27T00:00:00.000Z",
            "last_ts": "2026-11-27T00:15:00.000Z",
            "rows": 4,
        },
        {
            "source": "coingecko",
            "first_ts": "2026-11-27T00:01:00.000Z",
            "last_ts": "2026-11-27T00:07:30.000Z",
            "rows": 3,
        },
    ]


@pytest.mark.parametrize("path", ["/prices/latest", "/prices/history"])
def test_an_unknown_source_is_a_400_naming_the_known_ones(client: TestClient, path: str) -> None:
    answer = client.get(path, params={"coin": "BTC", "source": "binance"})
    assert answer.status_code == 400
    detail = answer.json()["detail"]
    assert detail.startswith("source='binance'")
    for name in ("best", "coingecko", "coinbase", "bitstamp"):
        assert name in detail


def test_the_csv_download_carries_the_sources(client: TestClient) -> None:
    answer = ask(client, "1h", format="csv")
    assert answer.text.splitlines()[1].endswith(",bitstamp;coinbase;coingecko")


# -- the invariant, over generated lakes ---------------------------------------------------------

PRIORITY = ("coingecko", "coinbase", "bitstamp")
SLOTS = 12  # one hour of 5-minute slots


@st.composite
def lakes(draw: st.DrawFn) -> list[Row]:
    """Per slot, any subset of sources: CoinGecko with 1-3 points at distinct seconds, a candle
    source with one consistent candle at the slot start."""
    rows = []
    price = st.integers(1, 1000).map(float)
    for slot in range(SLOTS):
        start = DAY + timedelta(minutes=5 * slot)
        for source in draw(st.sets(st.sampled_from(PRIORITY))):
            if source == "coingecko":
                seconds = draw(st.sets(st.integers(0, 299), min_size=1, max_size=3))
                for s in sorted(seconds):
                    rows.append(Row("BTC", start + timedelta(seconds=s), draw(price)))
            else:
                o, c, lo, hi = draw(price), draw(price), draw(price), draw(price)
                low, high = min(o, c, lo), max(o, c, hi)
                rows.append(candle(5 * slot, o, high, low, c, source=source))
    return rows


def expected_buckets(
    rows: list[Row], interval_seconds: int, only: str | None
) -> list[tuple[object, ...]]:
    """The contract, written plainly: pick rows per slot, then OHLC per bucket."""
    by_slot: dict[int, list[Row]] = {}
    for row in rows:
        if only is None or row.source == only:
            epoch = int(row.ts.timestamp())
            by_slot.setdefault(epoch - epoch % 300, []).append(row)
    picked = []
    for slot_rows in by_slot.values():
        best = min(PRIORITY.index(r.source) for r in slot_rows)
        picked += [r for r in slot_rows if PRIORITY.index(r.source) == best]
    buckets: dict[int, list[Row]] = {}
    for row in sorted(picked, key=lambda r: r.ts):
        epoch = int(row.ts.timestamp())
        buckets.setdefault(epoch - epoch % interval_seconds, []).append(row)
    return [
        (
            iso_z(datetime.fromtimestamp(start, tz=DAY.tzinfo)),
            bucket[0].open_usd or bucket[0].price_usd,
            max(r.high_usd or r.price_usd for r in bucket),
            min(r.low_usd or r.price_usd for r in bucket),
            bucket[-1].price_usd,
            len(bucket),
            sorted({r.source for r in bucket}),
        )
        for start, bucket in sorted(buckets.items())
    ]


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rows=lakes(), only=st.sampled_from([None, *PRIORITY]))
def test_every_bucket_is_built_from_one_source_per_slot_in_priority_order(
    tmp_path_factory: pytest.TempPathFactory, rows: list[Row], only: str | None
) -> None:
    root = tmp_path_factory.mktemp("generated")
    if rows:
        write_curated(root, rows)
    engine = DuckDBEngine(root, recheck_seconds=0)
    sources = service.parse_source(only, PRIORITY)
    try:
        for interval in (Interval.M5, Interval.M15, Interval.H1):
            points = service.history(
                engine, "BTC", DAY, DAY + timedelta(hours=1), interval, NOW, 2, sources
            )
            got = [
                (iso_z(p.ts), p.open, p.high, p.low, p.close, p.samples, p.sources) for p in points
            ]
            assert got == expected_buckets(rows, interval.seconds, only)
    finally:
        engine.close()
