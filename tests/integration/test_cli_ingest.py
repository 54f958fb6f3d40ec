"""`nebula` as a user runs it: a subprocess against a CoinGecko-compatible server on loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import fixture_text
from tests.integration.fake_coingecko import Answer, Script, serve

NEBULA = Path(sys.executable).parent / "nebula"


def nebula(*args: str, base_url: str, lake: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "NEBULA_COINGECKO_BASE_URL": base_url,
        "NEBULA_LAKE_URI": str(lake),
        "COLUMNS": "200",
        **env,
    }
    return subprocess.run(
        [str(NEBULA), *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )


def raw_files(lake: Path) -> list[Path]:
    return sorted((lake / "raw").rglob("*.jsonl")) if (lake / "raw").exists() else []


def test_fetch_stores_exactly_what_the_server_sent_through_a_429_and_a_500(tmp_path: Path) -> None:
    body = fixture_text("coingecko/simple_price.json")
    script = Script(
        [Answer(429, "slow down", {"Retry-After": "0"}), Answer(500, "oops"), Answer(200, body)]
    )
    lake = tmp_path / "lake"
    with serve(script) as url:
        result = nebula("fetch", base_url=url, lake=lake)

    assert result.returncode == 0, result.stderr
    assert len(script.paths) == 3 and all(
        p.startswith("/api/v3/simple/price?") for p in script.paths
    )
    [batch] = raw_files(lake)
    stored = {row["coin"]: row for row in map(json.loads, batch.read_text().splitlines())}
    sent = json.loads(body)
    for coin, coin_id in {"BTC": "bitcoin", "ETH": "ethereum", "SOL": "solana"}.items():
        assert stored[coin]["price_usd"] == sent[coin_id]["usd"]
        assert stored[coin]["market_cap_usd"] == sent[coin_id]["usd_market_cap"]
        assert json.loads(stored[coin]["source_payload"]) == sent[coin_id]
    assert "91234.56789012345" in result.stdout  # prints what it stored
    assert batch.relative_to(lake).as_posix() in result.stdout.replace("\n", "")


def test_fetching_twice_in_a_slot_leaves_one_batch(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    with serve(Script([Answer(200, fixture_text("coingecko/simple_price.json"))])) as url:
        assert nebula("fetch", base_url=url, lake=lake).returncode == 0
        assert nebula("fetch", base_url=url, lake=lake).returncode == 0
    # Two runs can straddle a slot boundary; within one slot they share one key.
    assert len({f.name for f in raw_files(lake)}) == len(raw_files(lake)) <= 2
    assert all(len(f.read_text().splitlines()) == 3 for f in raw_files(lake))


def test_a_server_sending_only_truncated_bodies_fails_with_one_line_and_stores_nothing(
    tmp_path: Path,
) -> None:
    lake = tmp_path / "lake"
    with serve(Script([Answer(200, '{"bitcoin": {"usd": 912')])) as url:
        result = nebula("fetch", base_url=url, lake=lake, NEBULA_FETCH_DEADLINE_SECONDS="3")

    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: CoinGecko /simple/price failed after")
    assert "not valid JSON" in lines[0]
    assert "Traceback" not in result.stderr
    assert raw_files(lake) == []


def test_an_unknown_coin_stops_with_the_fix(tmp_path: Path) -> None:
    result = nebula("fetch", base_url="http://127.0.0.1:9", lake=tmp_path, NEBULA_COINS="BTC,NOPE")
    assert result.returncode == 2
    assert "NOPE" in result.stderr and "NEBULA_COIN_IDS" in result.stderr
    assert "Traceback" not in result.stderr


def test_backfill_of_a_past_day_stores_every_point_served_and_a_rerun_changes_nothing(
    tmp_path: Path,
) -> None:
    lake = tmp_path / "lake"
    served = fixture_text("coingecko/market_chart_range_bitcoin.json")
    script = Script([Answer(200, served)])
    args = (
        "backfill",
        "--source",
        "coingecko",
        "--start",
        "2026-11-27T00:00:00Z",
        "--end",
        "1795824000",
        "--coins",
        "btc",
    )
    with serve(script) as url:
        first = nebula(*args, base_url=url, lake=lake)
        snapshot = {f: f.read_bytes() for f in raw_files(lake)}
        second = nebula(*args, base_url=url, lake=lake)

    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    [batch] = snapshot
    assert batch.name == "coingecko-history-BTC-20261127T0000Z-20261128T0000Z.jsonl"
    points = json.loads(served)["prices"]
    inside = [p for p in points if 1795737600000 <= p[0] < 1795824000000]
    assert [json.loads(line)["price_usd"] for line in batch.read_text().splitlines()] == [
        p[1] for p in inside
    ]
    assert len(script.paths) == 1  # the complete window was not fetched again
    assert {f: f.read_bytes() for f in raw_files(lake)} == snapshot
    assert "stored 12 points in 1 batches" in first.stdout
    assert "1 windows were already stored" in second.stdout


def test_backfill_rejects_a_reversed_range(tmp_path: Path) -> None:
    result = nebula(
        "backfill",
        "--start",
        "2026-11-28T00:00:00Z",
        "--end",
        "2026-11-27T00:00:00Z",
        base_url="http://127.0.0.1:9",
        lake=tmp_path,
    )
    assert result.returncode == 2
    assert "must be before" in result.stderr


@pytest.mark.parametrize(
    ("start", "says"),
    [
        ("2008-12-31T00:00:00Z", "older than Bitcoin's genesis block"),
        ("0001-01-01T00:00:00+01:00", "out of range"),
        ("9000-01-01T00:00:00Z", "is in the future"),
    ],
)
def test_backfill_rejects_a_start_with_no_prices_to_load(
    tmp_path: Path, start: str, says: str
) -> None:
    result = nebula(
        "backfill",
        "--start",
        start,
        "--end",
        "9999-01-01T00:00:00Z",
        base_url="http://127.0.0.1:9",
        lake=tmp_path,
    )
    assert result.returncode == 2
    assert says in result.stderr
    assert "Traceback" not in result.stderr


def test_backfill_to_a_far_end_stops_at_the_end_of_today(tmp_path: Path) -> None:
    today = datetime.now(UTC).date()
    yesterday = today - timedelta(days=1)
    script = Script([Answer(200, fixture_text("coingecko/market_chart_range_bitcoin.json"))])
    with serve(script) as url:
        result = nebula(
            "backfill",
            "--source",
            "coingecko",
            "--start",
            f"{yesterday}T00:00:00Z",
            "--end",
            "9999-01-01T00:00:00Z",
            "--coins",
            "BTC",
            base_url=url,
            lake=tmp_path,
        )
    assert result.returncode == 0, result.stderr
    assert f"loading up to {today + timedelta(days=1)}T00:00:00.000Z" in result.stdout
    assert len(script.paths) == 2  # yesterday and today, not 2.9 million future days


def test_an_unwritable_lake_is_a_one_line_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the lake folder should be")
    with serve(Script([Answer(200, fixture_text("coingecko/simple_price.json"))])) as url:
        result = nebula("fetch", base_url=url, lake=blocker)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "NEBULA_LAKE_URI" in result.stderr


@pytest.mark.parametrize("uri", ["file:///tmp/lake", "s3://"])
def test_a_lake_uri_that_names_no_lake_is_a_one_line_error_quoting_the_fix(
    tmp_path: Path, uri: str
) -> None:
    # The fix quotes `s3://bucket[/prefix]`: brackets that must print, not parse as markup.
    result = nebula("fetch", base_url="http://127.0.0.1:9", lake=tmp_path, NEBULA_LAKE_URI=uri)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "s3://bucket[/prefix]" in result.stderr
    assert not raw_files(tmp_path)
