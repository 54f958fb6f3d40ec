"""The issue's "done when": above + change + stale rules, fetches that cross the threshold,
move 5 % within the hour and then stop for 15 minutes, every fetch run twice: the receiver on
127.0.0.1 gets exactly three messages, each once, with the values stored in the lake."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.deps import get_clock
from nebulastream.alerts.edge import Alerts, make_senders
from nebulastream.alerts.service import AlertRun
from nebulastream.ingest import fetch_spot
from nebulastream.lake.storage import LocalLake
from nebulastream.settings import Settings
from nebulastream.sources.base import SourceError
from nebulastream.sources.coingecko import CoinGecko, build_client
from tests.webhook_receiver import Receiver, webhook_receiver

T0 = datetime(2026, 11, 28, 4, 0, tzinfo=UTC)
IDS = {"BTC": "bitcoin", "ETH": "ethereum", "SOL": "solana"}
RULES = """\
rules:
  - {name: btc-high, coin: BTC, above: 120000, channels: [webhook], cooldown: 1h}
  - {name: eth-move, coin: ETH, change_pct: 5, within: 1h}
  - {name: sol-stale, coin: SOL, stale_for: 15m}
"""
# One row per 5-minute slot: BTC, ETH, SOL, or None when CoinGecko is down.
PRICES: list[tuple[float, float, float] | None] = [
    (119000.0, 3000.0, 150.0),
    (121000.0, 3010.0, 150.5),  # BTC crosses 120000
    (121500.0, 3060.0, 151.0),
    (121200.0, 3160.0, 151.2),  # ETH is 5.33 % above 3000, within the hour
    (121300.0, 3165.0, 151.1),
    None,  # then nothing new: 15 minutes after 04:20:05 the SOL rule fires
    None,
    None,
    None,
]


class Prices:
    """CoinGecko's /simple/price on a mock transport, answering the current row or 503."""

    def __init__(self) -> None:
        self.row: tuple[float, float, float] | None = None
        self.observed = T0

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.row is None:
            return httpx.Response(503, text="down")
        seconds = int(self.observed.timestamp())
        body = {
            coin_id: {"usd": price, "last_updated_at": seconds}
            for coin_id, price in zip(IDS.values(), self.row, strict=True)
        }
        return httpx.Response(200, json=body)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with webhook_receiver() as running:
        yield running


def test_three_rules_three_messages_each_once_with_the_stored_values(
    tmp_path: Path, receiver: Receiver
) -> None:
    rules = tmp_path / "alerts.yml"
    rules.write_text(RULES)
    lake_dir = tmp_path / "lake"
    settings = Settings(
        lake_uri=str(lake_dir),
        alerts_file=str(rules),
        alert_webhook_url=receiver.url,
        alert_webhook_secret="s3cret",
    )
    lake = LocalLake(lake_dir)
    prices = Prices()
    source = CoinGecko(
        build_client("https://cg.test", transport=httpx.MockTransport(prices.handle)),
        IDS,
        sleep=lambda _: None,
    )
    console: list[str] = []
    alerts = Alerts(
        settings, lake, make_senders(settings, emit=console.append, sleep=lambda _: None)
    )
    runs: list[AlertRun] = []
    for index, row in enumerate(PRICES):
        slot = T0 + timedelta(minutes=5 * index)
        prices.row, prices.observed = row, slot + timedelta(seconds=5)
        for attempt in range(2):  # every fetch runs twice (a retried or duplicated event)
            now = slot + timedelta(seconds=10 + attempt)
            try:
                fetch_spot(source, lake, slot=slot, now=now)
            except SourceError:
                assert row is None
            run = alerts.after_fetch(now=now, owner=f"fetch-{index}-{attempt}")
            assert run is not None
            runs.append(run)

    messages = [r.json for r in receiver.requests]
    assert [m["rule"] for m in messages] == ["btc-high", "eth-move", "sol-stale"]
    assert len({m["id"] for m in messages}) == 3
    btc, eth, sol = messages
    assert (btc["kind"], btc["value"], btc["threshold"], btc["ts"]) == (
        "above",
        121000.0,
        120000.0,
        "2026-11-28T04:05:05.000Z",
    )
    assert (eth["kind"], eth["value"], eth["reference"]) == ("change", 3160.0, 3000.0)
    assert eth["move_pct"] == pytest.approx((3160 / 3000 - 1) * 100)
    assert (sol["kind"], sol["value"], sol["threshold"]) == ("stale", 905.0, 900.0)
    assert sol["observed_ts"] == "2026-11-28T04:20:05.000Z"
    assert all(m["text"] == m["content"] and m["rule"] in m["text"] for m in messages)
    # The values are the lake's: what the raw batch of the crossing slot holds.
    stored = [
        json.loads(line)
        for line in lake.get("raw/dt=2026-11-28/coingecko-spot-20261128T0405Z.jsonl").splitlines()
    ]
    assert {o["coin"]: o["price_usd"] for o in stored}["BTC"] == btc["value"]
    # Each firing went out once, and nothing is left to deliver.
    assert [fid for run in runs for fid, _ in run.delivered] == [m["id"] for m in messages]
    assert not alerts.store.load()[0].pending

    app = create_app()
    app.state.alerts = alerts
    app.dependency_overrides[get_clock] = lambda: T0 + timedelta(hours=1)
    with TestClient(app) as client:
        history = client.get("/alerts/history", params={"since": "2026-11-28T00:00:00Z"}).json()
        listed = client.get("/alerts").json()
    assert [f["id"] for f in history["firings"]] == [m["id"] for m in messages]
    assert all(set(f["delivered"]) == set(f["channels"]) for f in history["firings"])
    alerts.close()
    assert {r["name"]: r["state"] for r in listed["rules"]} == {
        "btc-high": "firing",
        "eth-move": "firing",
        "sol-stale": "firing",
    }
