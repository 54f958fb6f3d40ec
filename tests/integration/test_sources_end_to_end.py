"""Issue 12's "done when", on two days instead of a year: candles backfilled from Coinbase and
Bitstamp servers on loopback, CoinGecko spot batches overlapping, `nebula transform`, then the
API answers exactly the candles served per source, and `best` fills CoinGecko's holes from the
candles by priority without doubling a sample."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from nebulastream.query.duckdb import DuckDBEngine
from nebulastream.timeutil import iso_z
from tests.fake_exchange import STEP, Candle, Exchange, make_candle, serve
from tests.integration.api_lake import client_for, settings_for
from tests.integration.test_cli_backfill_candles import BASES, DAY1, END, START, run
from tests.integration.test_cli_ingest import nebula
from tests.lake_fixtures import observation, write_spot

DAYS = 2
SLOTS = range(DAY1, DAY1 + DAYS * 86400, STEP)
# No trades on Coinbase in these buckets (one at the day edge); Bitstamp misses others.
COINBASE_MISSING = {DAY1 + 7 * STEP, DAY1 + 86400, DAY1 + 86400 + 100 * STEP}
BITSTAMP_MISSING = {DAY1 + 8 * STEP, DAY1 + 86400 + 100 * STEP}
# CoinGecko's scheduled fetches landed for the first six hours of day 2 only.
SPOT_SLOTS = range(DAY1 + 86400, DAY1 + 86400 + 6 * 3600, STEP)
NOW = datetime.fromtimestamp(DAY1 + DAYS * 86400 + 600, tz=UTC)
# Slots no source has: no trades on either exchange, no fetch.
NOWHERE = (COINBASE_MISSING & BITSTAMP_MISSING) - set(SPOT_SLOTS)


def spot_price(coin: str, slot: int) -> float:
    return round(BASES[coin] * 1.002 + (slot // STEP) % 7, 2)


@dataclass(frozen=True)
class Lake:
    root: Path
    transform_stdout: str


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    root = tmp_path_factory.mktemp("e2e") / "lake"
    coinbase, bitstamp = Exchange(missing=COINBASE_MISSING), Exchange(missing=BITSTAMP_MISSING)
    args = ("--start", START, "--end", END, "--coins", "BTC,ETH")
    with serve(coinbase) as cb_url, serve(bitstamp) as bs_url:
        for source, url in (("coinbase", cb_url), ("bitstamp", bs_url)):
            done = run(url, root, "backfill", "--source", source, *args)
            assert done.returncode == 0, done.stderr
    for slot in SPOT_SLOTS:
        at = datetime.fromtimestamp(slot, tz=UTC)
        fetched = at + timedelta(seconds=61)
        write_spot(
            root,
            at,
            [
                observation(c, at + timedelta(seconds=40), spot_price(c, slot), fetched_at=fetched)
                for c in BASES
            ],
        )
    curated = nebula("transform", base_url="http://127.0.0.1:9", lake=root)
    assert curated.returncode == 0, curated.stderr
    return Lake(root, curated.stdout)


@pytest.fixture(scope="module")
def client(lake: Lake) -> Iterator[TestClient]:
    engine = DuckDBEngine(lake.root, recheck_seconds=0)
    settings = settings_for(lake.root, coins=list(BASES))
    with client_for(engine, settings, now=NOW) as client:
        yield client
    engine.close()


def served(coin: str, missing: set[int]) -> list[Candle]:
    return [make_candle(BASES[coin], t) for t in SLOTS if t not in missing]


def history(client: TestClient, coin: str, **params: str) -> list[dict[str, object]]:
    answer = client.get(
        "/prices/history",
        params={"coin": coin, "start": START, "end": END, "interval": "5m", **params},
    )
    assert answer.status_code == 200, answer.text
    points: list[dict[str, object]] = answer.json()["points"]
    return points


def as_points(candles: list[Candle], source: str) -> list[dict[str, object]]:
    return [
        {
            "ts": iso_z(datetime.fromtimestamp(c.time, tz=UTC)),
            "open": c.open,
            "high": c.high,
            "low": c.low,
            "close": c.close,
            "samples": 1,
            "market_cap_usd": None,
            "volume_24h_usd": None,
            "sources": [source],
        }
        for c in candles
    ]


@pytest.mark.parametrize(
    ("source", "missing"), [("coinbase", COINBASE_MISSING), ("bitstamp", BITSTAMP_MISSING)]
)
@pytest.mark.parametrize("coin", sorted(BASES))
def test_one_source_answers_exactly_the_candles_its_server_sent(
    client: TestClient, coin: str, source: str, missing: set[int]
) -> None:
    assert history(client, coin, source=source) == as_points(served(coin, missing), source)


def test_curation_keeps_one_row_per_served_candle_and_spot_observation(client: TestClient) -> None:
    coins = {c["coin"]: c for c in client.get("/coins").json()["coins"]}
    for coin in BASES:
        rows = {s["source"]: s["rows"] for s in coins[coin]["sources"]}
        assert rows == {
            "coinbase": len(SLOTS) - len(COINBASE_MISSING),
            "bitstamp": len(SLOTS) - len(BITSTAMP_MISSING),
            "coingecko": len(SPOT_SLOTS),
        }
        assert coins[coin]["rows"] == sum(rows.values())


@pytest.mark.parametrize("coin", sorted(BASES))
def test_best_serves_coingeckos_slots_and_fills_the_rest_from_candles_by_priority(
    client: TestClient, coin: str
) -> None:
    points = {p["ts"]: p for p in history(client, coin)}
    # every slot that any source has, once, from one source
    assert len(points) == len(SLOTS) - len(NOWHERE) and NOWHERE
    assert {p["samples"] for p in points.values()} == {1}
    coinbase = {c.time: c for c in served(coin, COINBASE_MISSING)}
    bitstamp = {c.time: c for c in served(coin, BITSTAMP_MISSING)}
    for slot in SLOTS:
        ts = iso_z(datetime.fromtimestamp(slot, tz=UTC))
        if slot in NOWHERE:
            assert ts not in points
            continue
        point = points[ts]
        if slot in SPOT_SLOTS:
            expected = ("coingecko", spot_price(coin, slot), spot_price(coin, slot))
        elif slot in coinbase:
            expected = ("coinbase", coinbase[slot].open, coinbase[slot].close)
        else:  # Coinbase had no trades: Bitstamp's candle
            expected = ("bitstamp", bitstamp[slot].open, bitstamp[slot].close)
        assert (point["sources"][0], point["open"], point["close"]) == expected
    by_source = [p["sources"][0] for p in points.values()]
    assert by_source.count("bitstamp") == len(COINBASE_MISSING - set(SPOT_SLOTS) - NOWHERE) == 1


def test_an_hour_of_mixed_sources_counts_each_slot_once(client: TestClient) -> None:
    # 06:00 on day 2 is the first hour after CoinGecko's fetches stopped; 05:00 is theirs;
    # at 00:35 on day 1 Coinbase had no trades and Bitstamp's candle stands in.
    answer = client.get(
        "/prices/history",
        params={"coin": "BTC", "start": START, "end": END, "interval": "1h"},
    ).json()["points"]
    hours = {p["ts"]: (p["samples"], p["sources"]) for p in answer}
    day2 = datetime.fromtimestamp(DAY1 + 86400, tz=UTC)
    assert hours[iso_z(day2 + timedelta(hours=5))] == (12, ["coingecko"])
    assert hours[iso_z(day2 + timedelta(hours=6))] == (12, ["coinbase"])
    assert hours[iso_z(datetime.fromtimestamp(DAY1, tz=UTC))] == (12, ["bitstamp", "coinbase"])
    assert hours[iso_z(day2 + timedelta(hours=8))] == (11, ["coinbase"])  # 08:20: no source
    assert sum(s for s, _ in hours.values()) == len(SLOTS) - len(NOWHERE)
