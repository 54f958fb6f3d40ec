"""Two evaluations racing on one state: the compare-and-set makes the slower one recompute."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from nebulastream.alerts.channels import ConsoleChannel
from nebulastream.alerts.evaluate import Reading
from nebulastream.alerts.rules import Rule
from nebulastream.alerts.service import evaluate_and_deliver
from nebulastream.alerts.store import AlertStore
from nebulastream.lake.storage import LocalLake

NOW = datetime(2026, 11, 28, 4, 5, 10, tzinfo=UTC)
RULE = Rule(name="btc-high", coin="BTC", above=120000)


def reader(rules: Any, now: datetime) -> dict[str, Reading | None]:
    return {"btc-high": Reading(121000.0, NOW - timedelta(seconds=5))}


class RacingLake(LocalLake):
    """Runs a whole other evaluation between this one's read of the state and its write."""

    def __init__(self, root: Path, rival: Any) -> None:
        super().__init__(root)
        self.rival = rival

    def put_if_absent(self, key: str, data: bytes, content_type: str) -> bool:
        if key == "alerts/state.json" and self.rival is not None:
            rival, self.rival = self.rival, None
            rival()
        return super().put_if_absent(key, data, content_type)


def test_a_crossing_seen_by_two_racing_evaluations_is_sent_once(tmp_path: Path) -> None:
    sent: list[str] = []
    senders = {"console": ConsoleChannel(sent.append)}
    other = AlertStore(LocalLake(tmp_path))

    def rival() -> None:
        evaluate_and_deliver([RULE], other, reader, senders, now=NOW, owner="rival")

    mine = AlertStore(RacingLake(tmp_path, rival))
    run = evaluate_and_deliver([RULE], mine, reader, senders, now=NOW, owner="mine")

    assert run.fired == []  # recomputed on the rival's state: already firing
    assert len(sent) == 1 and "btc-high" in sent[0]
    assert mine.load()[0].rules["btc-high"].status == "firing"
    assert [r.firing.rule for r in mine.history(NOW - timedelta(hours=1))] == ["btc-high"]


def test_an_unreadable_state_starts_afresh_instead_of_stopping_alerts(tmp_path: Path) -> None:
    lake = LocalLake(tmp_path)
    lake.put("alerts/state.json", b"{not json", "application/json")
    sent: list[str] = []
    run = evaluate_and_deliver(
        [RULE],
        AlertStore(lake),
        reader,
        {"console": ConsoleChannel(sent.append)},
        now=NOW,
        owner="a",
    )
    assert [f.rule for f in run.fired] == ["btc-high"] and len(sent) == 1
