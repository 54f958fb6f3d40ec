"""`nebula backfill --source coinbase|bitstamp` and `nebula sources` as a user runs them: a
subprocess against an exchange-compatible server on loopback, into a real lake folder."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.fake_exchange import STEP, Exchange, Fault, make_candle, serve
from tests.integration.test_cli_ingest import nebula, raw_files

START, END = "2026-11-26T00:00:00Z", "2026-11-28T00:00:00Z"
DAY1 = int(datetime(2026, 11, 26, tzinfo=UTC).timestamp())
BASES = {"BTC": 95_000.0, "ETH": 3_600.0}


def run(exchange_url: str, lake: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return nebula(
        *args,
        base_url="http://127.0.0.1:9",  # CoinGecko is never asked
        lake=lake,
        NEBULA_COINBASE_BASE_URL=exchange_url,
        NEBULA_BITSTAMP_BASE_URL=f"{exchange_url}/api/v2",
        **env,
    )


def stored(lake: Path) -> dict[str, list[dict[str, object]]]:
    return {
        f.relative_to(lake).as_posix(): [json.loads(line) for line in f.read_text().splitlines()]
        for f in raw_files(lake)
    }


@pytest.mark.parametrize("source", ["coinbase", "bitstamp"])
def test_backfill_stores_exactly_the_candles_served_and_a_rerun_changes_nothing(
    tmp_path: Path, source: str
) -> None:
    missing = {DAY1 + 7 * STEP, DAY1 + 86400}  # intervals without trades, one at a day edge
    exchange = Exchange(missing=missing)
    lake = tmp_path / "lake"
    args = ("backfill", "--source", source, "--start", START, "--end", END, "--coins", "BTC,ETH")
    with serve(exchange) as url:
        first = run(url, lake, *args)
        snapshot = {f: f.read_bytes() for f in raw_files(lake)}
        asked = len(exchange.requests)
        second = run(url, lake, *args)

    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    batches = stored(lake)
    assert sorted(batches) == sorted(
        f"raw/dt=2026-11-2{d}/{source}-candles-{coin}-2026112{d}T0000Z-2026112{d + 1}T0000Z.jsonl"
        for coin in ("BTC", "ETH")
        for d in (6, 7)
    )
    assert asked == 4  # a day of 5-minute candles is one request on either exchange
    for key, rows in batches.items():
        coin = "BTC" if "-BTC-" in key else "ETH"
        day = DAY1 if "dt=2026-11-26" in key else DAY1 + 86400
        served = [make_candle(BASES[coin], t) for t in range(day, day + 86400, STEP)]
        served = [c for c in served if c.time not in missing]
        assert [
            (r["observed_at"], r["open_usd"], r["high_usd"], r["low_usd"], r["price_usd"])
            for r in rows
        ] == [
            (
                datetime.fromtimestamp(c.time, tz=UTC).isoformat().replace("+00:00", ".000Z"),
                c.open,
                c.high,
                c.low,
                c.close,
            )
            for c in served
        ]
        assert {r["span_seconds"] for r in rows} == {300} and {r["source"] for r in rows} == {
            source
        }
        assert all(r["slot"] == r["observed_at"] for r in rows)
        assert all(r["market_cap_usd"] is None for r in rows)
    assert len(exchange.requests) == asked  # the re-run asked nothing
    assert {f: f.read_bytes() for f in raw_files(lake)} == snapshot
    assert "4 windows were already stored" in second.stdout


def test_backfill_defaults_to_the_first_priority_source_with_past_five_minute_data(
    tmp_path: Path,
) -> None:
    lake = tmp_path / "lake"
    exchange = Exchange()
    with serve(exchange) as url:
        default = run(url, lake / "a", "backfill", "--start", START, "--end", END, "--coins", "BTC")
        reordered = run(
            url,
            lake / "b",
            *("backfill", "--start", START, "--end", END, "--coins", "BTC"),
            NEBULA_SOURCE_PRIORITY="coingecko,bitstamp,coinbase",
        )
    assert default.returncode == 0, default.stderr
    assert reordered.returncode == 0, reordered.stderr
    assert {f.name.split("-")[0] for f in raw_files(lake / "a")} == {"coinbase"}
    assert {f.name.split("-")[0] for f in raw_files(lake / "b")} == {"bitstamp"}


def test_a_coin_the_source_does_not_list_is_skipped_with_a_warning(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    exchange = Exchange()
    with serve(exchange) as url:
        result = run(url, lake, "backfill", "--source", "coinbase", "--start", START, "--end",
                     END, "--coins", "BTC,BNB")  # fmt: skip
        nothing = run(url, lake, "backfill", "--source", "coinbase", "--start", START, "--end",
                      END, "--coins", "BNB,TRX")  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert "coinbase does not list BNB; skipped" in result.stderr
    assert {f.name.split("-")[2] for f in raw_files(lake)} == {"BTC"}
    assert nothing.returncode == 2
    assert "coinbase lists none of BNB, TRX" in nothing.stderr
    assert "Traceback" not in nothing.stderr


def test_transient_faults_are_retried_and_a_refusal_stops_with_one_line_then_resumes(
    tmp_path: Path,
) -> None:
    lake = tmp_path / "lake"
    retry_after = Fault(429, '{"message":"Public rate limit exceeded"}', {"Retry-After": "0"})
    html = Fault(200, "<html>maintenance</html>", {"Content-Type": "text/html"})
    refused = Fault(404, '{"message":"NotFound"}')
    # Day 1 goes through a 429 and an HTML page, then is served; day 2 is refused.
    exchange = Exchange(faults=[retry_after, html, None, refused])
    args = ("backfill", "--source", "coinbase", "--start", START, "--end", END, "--coins", "BTC")
    with serve(exchange) as url:
        failed = run(url, lake, *args)
        resumed = run(url, lake, *args)

    assert failed.returncode == 1
    lines = [x for x in failed.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, failed.stderr
    assert lines[0].startswith(
        "error: Coinbase Exchange /products/BTC-USD/candles answered HTTP 404"
    )
    assert "re-run the same command to resume" in lines[0]
    assert resumed.returncode == 0, resumed.stderr
    assert len(exchange.requests) == 5  # 429, HTML, day 1, refused day 2, resumed day 2
    assert len(raw_files(lake)) == 2
    assert "stored 288 points in 1 batches; 1 windows were already stored" in resumed.stdout


def test_an_unknown_source_is_refused_with_the_known_ones(tmp_path: Path) -> None:
    result = run("http://127.0.0.1:9", tmp_path, "backfill", "--source", "binance", "--start",
                 START, "--end", END)  # fmt: skip
    assert result.returncode == 2
    assert "known sources: coingecko, coinbase, bitstamp" in result.stderr


def test_sources_lists_the_registry_with_coins_limits_and_terms(tmp_path: Path) -> None:
    result = run("http://127.0.0.1:9", tmp_path, "sources")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for text in ("coingecko", "coinbase", "bitstamp", "300 candles", "1000 candles",
                 "backfill default", "fetch", "http://127.0.0.1:9/api/v2"):  # fmt: skip
        assert text in out
