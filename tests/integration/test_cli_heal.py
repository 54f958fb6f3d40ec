"""`nebula heal` as a user runs it: a lake whose fetcher was down for six hours a day ago and
for twenty minutes an hour ago, a CoinGecko- and an exchange-compatible server on loopback.

After one heal every slot of both outages holds exactly what the servers served, once; the
one slot no exchange has a candle for is recorded as unrecoverable; /coins says so; a second
heal makes no request at all."""

from __future__ import annotations

import json
import re
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from nebulastream import heal
from nebulastream.completeness import SLOT_SECONDS as STEP
from nebulastream.lake.layout import UNRECOVERABLE
from nebulastream.lake.storage import LocalLake
from nebulastream.query import service
from nebulastream.query.duckdb import DuckDBEngine
from nebulastream.query.service import Interval
from nebulastream.timeutil import floor_to, utcnow
from tests.fake_chart import PRICES, Chart, chart_price
from tests.fake_exchange import Exchange, make_candle, serve
from tests.integration.api_lake import client_for, settings_for
from tests.integration.test_cli_ingest import nebula, raw_files
from tests.lake_fixtures import observation, write_spot

pytestmark = pytest.mark.slow
COINS = {"BTC": "bitcoin", "ETH": "ethereum"}
CANDLE_BASES = {"BTC": 95_000.0, "ETH": 3_600.0}


def epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def run(
    chart_url: str, exchange_url: str, lake: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    return nebula(
        *args,
        base_url=f"{chart_url}/api/v3",
        lake=lake,
        NEBULA_COINS=",".join(COINS),
        NEBULA_COINBASE_BASE_URL=exchange_url,
        NEBULA_BITSTAMP_BASE_URL=f"{exchange_url}/api/v2",
    )


def test_one_heal_fills_both_outages_with_the_served_values_and_a_second_asks_nothing(
    tmp_path: Path, record_property: pytest.RecordProperty
) -> None:
    now = utcnow()
    last = epoch(floor_to(now, STEP)) - STEP  # the last fetched slot
    first = last - 34 * 3600
    old = list(range(last - 32 * 3600, last - 26 * 3600, STEP))  # six hours, a day ago
    new = list(range(last - 3600, last - 3600 + 20 * 60, STEP))  # twenty minutes, an hour ago
    lake = tmp_path / "lake"
    for slot in range(first, last + STEP, STEP):
        if slot in old or slot in new:
            continue
        fetched = at(slot + 3)
        write_spot(
            lake,
            at(slot),
            [
                observation(c, at(slot + 1), 100.0 + i, fetched_at=fetched, slot=at(slot))
                for i, c in enumerate(COINS)
            ],
        )
    nowhere = old[40]  # no trades on either exchange in this bucket
    exchange = Exchange(missing={nowhere})
    chart = Chart()

    with serve(chart) as chart_url, serve(exchange) as exchange_url:  # type: ignore[arg-type]
        transformed = run(chart_url, exchange_url, lake, "transform")
        assert transformed.returncode == 0, transformed.stderr
        dry = run(chart_url, exchange_url, lake, "heal", "--dry-run")
        asked_by_dry_run = len(chart.requests) + len(exchange.requests)
        healed = run(chart_url, exchange_url, lake, "heal")
        chart_asked, exchange_asked = list(chart.requests), list(exchange.requests)
        batches = {f: f.read_bytes() for f in raw_files(lake)}
        again = run(chart_url, exchange_url, lake, "heal")

    assert dry.returncode == 0, dry.stderr
    assert healed.returncode == 0, healed.stderr
    assert again.returncode == 0, again.stderr
    assert asked_by_dry_run == 0
    planned = int(re.search(r"(\d+) request\(s\) planned", dry.stdout).group(1))  # type: ignore[union-attr]
    # One CoinGecko request per coin for the last day; one candle request per coin and UTC day
    # the old outage touches; then Bitstamp, per coin, for the bucket Coinbase has no candle for.
    old_days = len({s // 86400 for s in old})
    assert planned == 2 + 2 * old_days
    assert len(chart_asked) == 2
    assert len(exchange_asked) == 2 * old_days + 2
    made = re.search(r"(\d+) request\(s\) made \((\d+) planned\)", healed.stdout)
    assert made is not None and (int(made.group(1)), int(made.group(2))) == (planned + 2, planned)
    record_property("report", f"nebula heal table:\n{healed.stdout}")

    # A second heal: nothing is asked, nothing is written.
    assert len(chart.requests) == len(chart_asked) and len(exchange.requests) == len(exchange_asked)
    assert {f: f.read_bytes() for f in raw_files(lake)} == batches
    assert "0 request(s) made (0 planned)" in again.stdout

    engine = DuckDBEngine(lake)
    try:
        for coin in COINS:
            points = service.history(engine, coin, at(first), at(last + STEP), Interval.M5, now, 2)
            by_ts = {epoch(p.ts): p for p in points}
            assert all(p.samples == 1 for p in points)  # no slot holds two observations
            assert set(by_ts) == set(range(first, last + STEP, STEP)) - {nowhere}
        rows = duckdb.sql(
            "SELECT coin, epoch(ts)::BIGINT, source, price_usd, open_usd, high_usd, low_usd "
            f"FROM read_parquet('{lake}/curated/*/*.parquet') ORDER BY coin, ts"
        ).fetchall()
        outage = set(old) | set(new)
        healed_rows = [r for r in rows if r[1] - r[1] % STEP in outage]
        assert sorted(healed_rows) == sorted(
            [
                (coin, t + 17, "coingecko", chart_price(PRICES[coin_id], t + 17), None, None, None)
                for coin, coin_id in COINS.items()
                for t in new
            ]
            + [
                (coin, t, "coinbase", c.close, c.open, c.high, c.low)
                for coin in COINS
                for t in old
                if t != nowhere
                for c in (make_candle(CANDLE_BASES[coin], t),)
            ]
        )
        with client_for(engine, settings_for(lake, coins=list(COINS)), now) as client:
            coins = {c["coin"]: c for c in client.get("/coins").json()["coins"]}
    finally:
        engine.close()
    expected = (last - first) // STEP + 1
    for coin in COINS:
        assert (coins[coin]["gaps"], coins[coin]["missing_slots"]) == (1, 1)
        assert coins[coin]["completeness"] == round((expected - 1) / expected, 6)
    # The heal's curation run reports completeness over the days it rebuilt: every slot from the
    # first observation to the last fetched one, less the unrecoverable one.
    report = json.loads(max((lake / "reports").glob("curation-*.json")).read_text())
    in_days = 0
    for day in report["partitions_written"]:
        lo = epoch(datetime.fromisoformat(day).replace(tzinfo=UTC))
        in_days += len(range(max(first, lo), min(last + STEP, lo + 86400), STEP))
    assert in_days > 0
    for coin in COINS:
        assert report["completeness"]["by_coin"][coin]["expected"] == in_days
        assert report["completeness"]["by_coin"][coin]["present"] == in_days - 1
    # The coverage state the curation runs keep for the heal function says the same.
    recorded = heal.load_coverage(LocalLake(lake))
    for coin in COINS:
        assert (recorded[coin].first_slot, recorded[coin].last_slot) == (first, last)
        assert recorded[coin].holes == ((nowhere, nowhere + STEP),)
    given_up = json.loads((lake / UNRECOVERABLE).read_text())["slots"]
    stamp = at(nowhere).isoformat().replace("+00:00", ".000Z")
    assert {coin: list(slots) for coin, slots in given_up.items()} == {c: [stamp] for c in COINS}
    assert given_up["BTC"][stamp]["answers"] == {"coinbase": "no data", "bitstamp": "no data"}
    assert now - datetime.fromisoformat(given_up["BTC"][stamp]["recorded_at"]) < timedelta(hours=1)


def test_heal_on_an_empty_lake_says_what_to_run_first(tmp_path: Path) -> None:
    result = nebula("heal", base_url="http://127.0.0.1:9", lake=tmp_path / "lake")
    assert result.returncode == 0, result.stderr
    assert "0 request(s) made" in result.stdout
    assert "nothing is stored for BTC, ETH, SOL yet" in result.stderr
    assert "nebula backfill" in result.stderr


def test_retry_unrecoverable_asks_again_for_recorded_slots_and_fills_what_now_exists(
    tmp_path: Path,
) -> None:
    """A slot no exchange had is recorded and then left alone; once an exchange has it,
    `nebula heal --retry-unrecoverable` asks again, stores it and drops it from the record."""
    last = epoch(floor_to(utcnow(), STEP)) - STEP
    first = last - 30 * 3600
    hole = last - 28 * 3600  # older than CoinGecko's 5-minute window: exchanges only
    lake = tmp_path / "lake"
    for slot in range(first, last + STEP, STEP):
        if slot != hole:
            write_spot(
                lake,
                at(slot),
                [
                    observation(c, at(slot + 1), 100.0, fetched_at=at(slot + 3), slot=at(slot))
                    for c in COINS
                ],
            )
    exchange = Exchange(missing={hole})
    with serve(Chart()) as chart_url, serve(exchange) as exchange_url:  # type: ignore[arg-type]
        assert run(chart_url, exchange_url, lake, "transform").returncode == 0
        first_heal = run(chart_url, exchange_url, lake, "heal")
        asked = len(exchange.requests)
        plain = run(chart_url, exchange_url, lake, "heal")
        asked_by_plain = len(exchange.requests) - asked
        exchange.missing.clear()  # the exchange now has a candle for that bucket
        retried = run(chart_url, exchange_url, lake, "heal", "--retry-unrecoverable")

    assert first_heal.returncode == plain.returncode == retried.returncode == 0, retried.stderr
    stamp = at(hole).isoformat().replace("+00:00", ".000Z")
    assert asked > 0
    assert asked_by_plain == 0  # recorded: a plain heal does not ask again
    assert "0 request(s) made (0 planned)" in plain.stdout
    newly = re.search(r"(\d+) slot\(s\) newly recorded as unrecoverable", retried.stdout)
    assert newly is None or newly.group(1) == "0", retried.stdout
    assert re.search(r"[1-9]\d* raw batch\(es\) stored", retried.stdout), retried.stdout
    record = json.loads((lake / UNRECOVERABLE).read_text())["slots"]
    assert all(stamp not in record.get(coin, {}) for coin in COINS)
    engine = DuckDBEngine(lake)
    try:
        for coin in COINS:
            points = service.history(
                engine, coin, at(first), at(last + STEP), Interval.M5, utcnow(), 2
            )
            assert {epoch(p.ts) for p in points} == set(range(first, last + STEP, STEP))
            filled = next(p for p in points if epoch(p.ts) == hole)
            assert filled.close == make_candle(CANDLE_BASES[coin], hole).close
    finally:
        engine.close()
