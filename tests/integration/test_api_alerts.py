"""GET /alerts and GET /alerts/history: shapes, the state after evaluations, bad input."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.deps import get_clock
from nebulastream.alerts.edge import Alerts, make_senders
from nebulastream.alerts.evaluate import Reading
from nebulastream.alerts.service import evaluate_and_deliver
from nebulastream.lake.storage import LocalLake
from nebulastream.settings import Settings

T0 = datetime(2026, 11, 28, 4, 0, tzinfo=UTC)
RULES = """\
rules:
  - {name: btc-high, coin: BTC, above: 120000, cooldown: 1h}
  - {name: sol-stale, coin: SOL, stale_for: 15m}
"""


@pytest.fixture
def alerts(tmp_path: Path) -> Alerts:
    (tmp_path / "alerts.yml").write_text(RULES)
    settings = Settings(lake_uri=str(tmp_path / "lake"))
    return Alerts(settings, LocalLake(tmp_path / "lake"), make_senders(settings, emit=print))


def client(alerts: Alerts, now: datetime) -> Iterator[TestClient]:
    app = create_app()
    app.state.alerts = alerts
    app.dependency_overrides[get_clock] = lambda: now
    with TestClient(app) as running:
        yield running


def evaluate(alerts: Alerts, now: datetime, btc: float) -> None:
    def reader(rules: object, at: datetime) -> dict[str, Reading | None]:
        return {"btc-high": Reading(btc, now - timedelta(seconds=5)), "sol-stale": None}

    evaluate_and_deliver(alerts.rules(), alerts.store, reader, alerts.senders, now=now, owner="t")


def test_rules_with_state_last_fired_and_next_possible(alerts: Alerts) -> None:
    evaluate(alerts, T0, 119000)
    evaluate(alerts, T0 + timedelta(minutes=5), 121000)
    (api,) = client(alerts, T0 + timedelta(minutes=6))
    body = api.get("/alerts").json()
    assert body["problem"] is None and body["pending_deliveries"] == 0
    assert body["evaluated_at"] == "2026-11-28T04:05:00.000Z"
    high, stale = body["rules"]
    assert high == {
        "name": "btc-high",
        "kind": "above",
        "coin": "BTC",
        "condition": "BTC above 120000 USD",
        "threshold": 120000.0,
        "within_seconds": None,
        "cooldown_seconds": 3600.0,
        "hysteresis_pct": 0.5,
        "channels": ["console"],
        "state": "firing",
        "last_value": 121000.0,
        "last_ts": "2026-11-28T04:04:55.000Z",
        "last_checked": "2026-11-28T04:05:00.000Z",
        "last_fired": "2026-11-28T04:05:00.000Z",
        "next_possible": "2026-11-28T05:05:00.000Z",
    }
    assert (stale["state"], stale["last_value"], stale["last_fired"]) == ("armed", None, None)


def test_history_lists_firings_since_a_time_with_values(alerts: Alerts) -> None:
    evaluate(alerts, T0, 121000)
    evaluate(alerts, T0 + timedelta(minutes=5), 110000)  # re-arms
    evaluate(alerts, T0 + timedelta(hours=2), 125000)  # fires again, after the cooldown
    (api,) = client(alerts, T0 + timedelta(hours=3))
    everything = api.get("/alerts/history", params={"since": "2026-11-28T00:00:00Z"}).json()
    assert [(f["rule"], f["value"], f["fired_at"]) for f in everything["firings"]] == [
        ("btc-high", 121000.0, "2026-11-28T04:00:00.000Z"),
        ("btc-high", 125000.0, "2026-11-28T06:00:00.000Z"),
    ]
    first = everything["firings"][0]
    assert first["delivered"].keys() == {"console"} and first["failed"] == {}
    assert first["text"].startswith("btc-high: BTC is 121,000 USD")
    later = api.get("/alerts/history", params={"since": "2026-11-28T05:00:00Z"}).json()
    assert [f["value"] for f in later["firings"]] == [125000.0]
    default = api.get("/alerts/history").json()  # the last 24 hours
    assert default["since"] == "2026-11-27T07:00:00.000Z" and len(default["firings"]) == 2


@pytest.mark.parametrize(
    ("since", "status"),
    [  # malformed: 400; well-formed but off the calendar's range: 422 (the API's convention)
        ("yesterday", 400),
        ("2026-13-01T00:00:00Z", 400),
        ("9999-01-01T00:00:00Z", 422),
    ],
)
def test_a_bad_since_is_a_4xx_that_says_what_to_write(
    alerts: Alerts, since: str, status: int
) -> None:
    (api,) = client(alerts, T0)
    answer = api.get("/alerts/history", params={"since": since})
    assert answer.status_code == status
    assert "since" in answer.json()["detail"]


def test_a_broken_rules_file_is_reported_with_its_line_not_a_5xx(
    alerts: Alerts, tmp_path: Path
) -> None:
    (tmp_path / "alerts.yml").write_text("rules:\n  - name: x\n    coin: BTC\n    above: high\n")
    (api,) = client(alerts, T0)
    body = api.get("/alerts").json()
    assert body["rules"] == []
    assert body["problem"].startswith(f"{tmp_path / 'alerts.yml'}:4: rules[0] (x).above")
