"""The webhook channel against a receiver on 127.0.0.1: body, signature, retries, failures."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from nebulastream.alerts.channels import DeliveryError, WebhookChannel
from nebulastream.alerts.evaluate import Firing, Reading
from nebulastream.alerts.rules import Kind, Rule
from nebulastream.alerts.service import evaluate_and_deliver
from nebulastream.alerts.store import AlertStore
from nebulastream.lake.storage import LocalLake
from tests.webhook_receiver import webhook_receiver

NOW = datetime(2026, 11, 28, 4, 5, 10, tzinfo=UTC)
FIRING = Firing(
    id="btc-high-20261128T040505000Z",
    rule="btc-high",
    kind=Kind.ABOVE,
    coin="BTC",
    value=121000.0,
    threshold=120000.0,
    ts=NOW - timedelta(seconds=5),
    observed_ts=NOW - timedelta(seconds=5),
    fired_at=NOW,
    text="btc-high: BTC is 121,000 USD, above 120,000",
    channels=["webhook"],
)


def channel(
    url: str, secret: str | None = None, sleeps: list[float] | None = None
) -> WebhookChannel:
    return WebhookChannel(
        httpx.Client(timeout=2.0),
        url,
        lambda: secret,
        sleep=(sleeps if sleeps is not None else []).append,
        clock=lambda: 1795838710.0,
    )


def test_the_body_carries_the_contract_fields_and_a_verifiable_signature() -> None:
    with webhook_receiver() as receiver:
        channel(receiver.url, secret="s3cret").send(FIRING)
    (request,) = receiver.requests
    body = request.json
    assert {k: body[k] for k in ("rule", "kind", "coin", "value", "threshold", "ts", "id")} == {
        "rule": "btc-high",
        "kind": "above",
        "coin": "BTC",
        "value": 121000.0,
        "threshold": 120000.0,
        "ts": "2026-11-28T04:05:05.000Z",
        "id": "btc-high-20261128T040505000Z",
    }
    assert body["text"] == body["content"] == FIRING.text  # Slack shows text, Discord content
    assert request.headers["idempotency-key"] == FIRING.id
    timestamp = request.headers["x-nebula-timestamp"]
    assert timestamp == "1795838710"
    expected = hmac.new(b"s3cret", timestamp.encode() + b"." + request.body, hashlib.sha256)
    assert request.headers["x-nebula-signature"] == f"sha256={expected.hexdigest()}"


def test_without_a_secret_there_is_no_signature_header() -> None:
    with webhook_receiver() as receiver:
        channel(receiver.url).send(FIRING)
    assert "x-nebula-signature" not in receiver.requests[0].headers


def test_5xx_and_429_are_retried_with_backoff_until_accepted() -> None:
    sleeps: list[float] = []
    with webhook_receiver(failures=[503, 429]) as receiver:
        channel(receiver.url, sleeps=sleeps).send(FIRING)
    assert [r.headers["x-test-answered"] for r in receiver.requests] == ["503", "429", "200"]
    assert len({r.headers["idempotency-key"] for r in receiver.requests}) == 1
    assert len(sleeps) == 2 and sleeps[0] < sleeps[1]


def test_a_receiver_that_keeps_failing_is_a_delivery_error_without_the_url_token() -> None:
    with (
        webhook_receiver(failures=[500, 500, 500]) as receiver,
        pytest.raises(DeliveryError) as caught,
    ):
        channel(receiver.url).send(FIRING)
    assert len(receiver.requests) == 3
    assert "127.0.0.1" in str(caught.value) and "secret-token" not in str(caught.value)


def test_a_4xx_is_not_retried() -> None:
    with webhook_receiver(failures=[404]) as receiver, pytest.raises(DeliveryError, match="404"):
        channel(receiver.url).send(FIRING)
    assert len(receiver.requests) == 1


def test_a_failed_delivery_is_kept_and_sent_once_at_the_next_evaluation(tmp_path: Path) -> None:
    rule = Rule(name="btc-high", coin="BTC", above=120000)
    store = AlertStore(LocalLake(tmp_path))

    def reader(rules: object, now: datetime) -> dict[str, Reading | None]:
        return {"btc-high": Reading(121000.0, NOW - timedelta(seconds=5))}

    with webhook_receiver(failures=[503, 503, 503]) as receiver:
        senders = {"webhook": channel(receiver.url)}
        first = evaluate_and_deliver([rule], store, reader, senders, now=NOW, owner="a")
        assert [f.id for f in first.fired] == [FIRING.id] and first.failed and not first.delivered
        assert store.load()[0].pending[0].attempts == 1
        later = NOW + timedelta(minutes=5)
        second = evaluate_and_deliver([rule], store, reader, senders, now=later, owner="b")
        third = evaluate_and_deliver([rule], store, reader, senders, now=later, owner="c")
    assert second.fired == [] and second.delivered == [(FIRING.id, "webhook")]
    assert third.delivered == []
    assert [r.headers["x-test-answered"] for r in receiver.requests] == ["503"] * 3 + ["200"]
    assert not store.load()[0].pending
    (record,) = store.history(NOW - timedelta(hours=1))
    assert record.firing.id == FIRING.id and set(record.delivered) == {"webhook"}
