"""`nebula alerts check` and `nebula alerts test NAME` on a local lake."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from nebulastream.cli import app
from nebulastream.ingest import fetch_spot
from nebulastream.lake.storage import LocalLake
from nebulastream.sources.coingecko import CoinGecko, build_client
from nebulastream.timeutil import floor_to, utcnow
from tests.conftest import fixture_text
from tests.integration.fake_coingecko import Answer, Script, serve
from tests.webhook_receiver import webhook_receiver

RULES = """\
rules:
  - {name: btc-high, coin: BTC, above: 90000}
  - {name: eth-high, coin: ETH, above: 5000}
"""


@pytest.fixture
def lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LocalLake:
    """A lake holding one fresh fetch (BTC 91234.57, ETH 3012.88), and rules beside it."""
    monkeypatch.setenv("NEBULA_LAKE_URI", str(tmp_path / "lake"))
    (tmp_path / "alerts.yml").write_text(RULES)
    lake = LocalLake(tmp_path / "lake")
    now = utcnow()
    # The recorded answer, observed just now.
    payload = json.loads(fixture_text("coingecko/simple_price.json"))
    for coin in payload.values():
        coin["last_updated_at"] = int(now.timestamp()) - 5
    source = CoinGecko(
        build_client(
            "https://cg.test",
            transport=httpx.MockTransport(lambda r: httpx.Response(200, json=payload)),
        ),
        {"BTC": "bitcoin", "ETH": "ethereum", "SOL": "solana"},
        sleep=lambda _: None,
    )
    fetch_spot(source, lake, slot=floor_to(now, 300), now=now)
    return lake


def test_check_prints_what_would_fire_and_writes_nothing(lake: LocalLake) -> None:
    result = CliRunner().invoke(app, ["alerts", "check"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "would fire: btc-high: BTC is 91,234.568 USD, above 90,000" in result.output
    assert "eth-high" in result.output and "would fire: eth-high" not in result.output
    assert not lake.exists("alerts/state.json")


def test_test_sends_a_marked_message_to_the_rules_channels(
    lake: LocalLake, monkeypatch: pytest.MonkeyPatch
) -> None:
    with webhook_receiver() as receiver:
        monkeypatch.setenv("NEBULA_ALERT_WEBHOOK_URL", receiver.url)
        result = CliRunner().invoke(app, ["alerts", "test", "btc-high"])
    assert result.exit_code == 0, result.output
    assert "sent a test message to webhook" in result.output
    (request,) = receiver.requests
    assert request.json["test"] is True and request.json["value"] == 91234.56789012345
    assert not lake.exists("alerts/state.json")


def test_an_unknown_rule_and_a_broken_file_are_one_line_errors(
    lake: LocalLake, tmp_path: Path
) -> None:
    unknown = CliRunner().invoke(app, ["alerts", "test", "nope"])
    assert unknown.exit_code == 2 and "no rule named 'nope'" in unknown.output
    (tmp_path / "alerts.yml").write_text("rules:\n  - {name: a, coin: BTC}\n")
    broken = CliRunner().invoke(app, ["alerts", "check"], terminal_width=300)
    assert broken.exit_code == 2
    assert "alerts.yml:2: rules[0] (a): give exactly one condition" in broken.output


def test_nebula_fetch_run_twice_in_a_slot_sends_its_firing_once(tmp_path: Path) -> None:
    """The real command, twice, against a CoinGecko-compatible server on 127.0.0.1."""
    (tmp_path / "alerts.yml").write_text(
        "rules:\n  - {name: btc-high, coin: BTC, above: 90000, channels: [webhook]}\n"
    )
    payload = json.loads(fixture_text("coingecko/simple_price.json"))
    for coin in payload.values():
        coin["last_updated_at"] = int(utcnow().timestamp()) - 5
    nebula = Path(sys.executable).parent / "nebula"
    with webhook_receiver() as receiver, serve(Script([Answer(200, json.dumps(payload))])) as url:
        env = {
            **os.environ,
            "NEBULA_COINGECKO_BASE_URL": url,
            "NEBULA_LAKE_URI": str(tmp_path / "lake"),
            "NEBULA_ALERT_WEBHOOK_URL": receiver.url,
            "COLUMNS": "200",
        }
        runs = [
            subprocess.run(
                [str(nebula), "fetch"], capture_output=True, text=True, env=env, timeout=120
            )
            for _ in range(2)
        ]
    assert [r.returncode for r in runs] == [0, 0], [r.stderr for r in runs]
    assert "alert btc-high-" in runs[0].stdout and "fired -> webhook" in runs[0].stdout
    assert "alert btc-high-" not in runs[1].stdout
    (request,) = receiver.requests
    assert (request.json["rule"], request.json["value"]) == ("btc-high", 91234.56789012345)
