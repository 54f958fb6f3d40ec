"""Backfill and fetch with the real `nebula` command; the API serves exactly what was stored."""

from __future__ import annotations

import json
from pathlib import Path

from nebulastream.query.duckdb import DuckDBEngine
from nebulastream.timeutil import floor_to, iso_z, parse_time, utcnow
from tests.conftest import fixture_text
from tests.integration.api_lake import client_for, settings_for
from tests.integration.fake_coingecko import Answer, Script, serve
from tests.integration.test_cli_ingest import nebula, raw_files


def test_backfilled_and_just_fetched_prices_are_served_before_any_transform(
    tmp_path: Path,
) -> None:
    lake = tmp_path / "lake"
    backfill = ("backfill", "--source", "coingecko", "--start", "2026-11-27T00:00:00Z")
    backfill += ("--end", "1795824000")
    with serve(
        Script([Answer(200, fixture_text("coingecko/market_chart_range_bitcoin.json"))])
    ) as url:
        assert nebula(*backfill, "--coins", "BTC", base_url=url, lake=lake).returncode == 0
    # CoinGecko stamps current prices a moment before they are fetched: the recorded answer is
    # served with today's last_updated_at, or curation's rules would (rightly) call it stale.
    current = json.loads(fixture_text("coingecko/simple_price.json"))
    for entry in current.values():
        entry["last_updated_at"] = int(utcnow().timestamp()) - 30
    with serve(Script([Answer(200, json.dumps(current))])) as url:
        assert nebula("fetch", base_url=url, lake=lake).returncode == 0
    stored = [json.loads(line) for f in raw_files(lake) for line in f.read_text().splitlines()]
    history = [r for r in stored if r["coin"] == "BTC" and r["observed_at"] < "2026-11-28"]

    # The fetch used the real clock. Nothing is curated yet, so every raw folder is read.
    now = utcnow()
    engine = DuckDBEngine(lake, recheck_seconds=0)
    with client_for(engine, settings_for(lake), now=now) as client:
        latest = client.get("/prices/latest").json()["prices"]
        points = client.get(
            "/prices/history",
            params={
                "coin": "BTC",
                "start": "2026-11-27T00:00:00Z",
                "end": "2026-11-28T00:00:00Z",
                "interval": "5m",
            },
        ).json()["points"]
    engine.close()

    fetched = {r["coin"]: r for r in stored if r["slot"] >= "2026-11-28"}
    fetched = {c: r for c, r in fetched.items() if r["observed_at"]}
    assert {p["coin"]: p["price_usd"] for p in latest} == {
        c: r["price_usd"] for c, r in fetched.items()
    }
    assert {p["coin"]: p["ts"] for p in latest} == {c: r["observed_at"] for c, r in fetched.items()}
    assert history
    assert [(p["ts"], p["close"], p["samples"]) for p in points] == [
        (iso_z(floor_to(parse_time(r["observed_at"]), 300)), r["price_usd"], 1)
        for r in sorted(history, key=lambda r: r["observed_at"])
    ]


def test_a_raw_row_curation_would_quarantine_is_not_served_before_curation(
    tmp_path: Path,
) -> None:
    # The recorded answer says its prices were last updated on 2026-11-28 04:03Z; fetched now
    # (hours or more later), curation's ts_plausible_for_batch rule rejects it as stale, so the
    # API must not show it while it is still only raw either.
    lake = tmp_path / "lake"
    with serve(Script([Answer(200, fixture_text("coingecko/simple_price.json"))])) as url:
        assert nebula("fetch", base_url=url, lake=lake).returncode == 0
    assert raw_files(lake)
    engine = DuckDBEngine(lake, recheck_seconds=0)
    with client_for(engine, settings_for(lake), now=utcnow()) as client:
        assert client.get("/prices/latest").json()["prices"] == []
    engine.close()
