"""Where firings go: a webhook (JSON POST, optional HMAC signature), SNS, or the console.

Each channel's `send` raises DeliveryError when the message did not get through; the caller
keeps the firing and tries again at the next evaluation.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from nebulastream.alerts.evaluate import Firing

if TYPE_CHECKING:  # httpx and tenacity load with a webhook, not with the API's alert routes
    import httpx

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Nebula-Signature"
TIMESTAMP_HEADER = "X-Nebula-Timestamp"
ID_HEADER = "Idempotency-Key"


class DeliveryError(RuntimeError):
    """A channel did not take the message; the message says why."""


class Sender(Protocol):
    name: str

    def send(self, firing: Firing, *, test: bool = False) -> None: ...


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=<hex>` of HMAC-SHA256(secret, "<timestamp>.<body>"): what receivers recompute."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


class _Retryable(Exception):
    pass


class WebhookChannel:
    """POST the firing as JSON; retried with exponential backoff on transport errors, 429, 5xx.

    `secret` is called at each send, so a secret read from SSM at run time can rotate.
    """

    name = "webhook"

    def __init__(
        self,
        client: httpx.Client,
        url: str,
        secret: Callable[[], str | None] = lambda: None,
        *,
        attempts: int = 3,
        max_seconds: float = 10.0,
        backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.url = url
        self.secret = secret
        self.attempts = attempts
        self.max_seconds = max_seconds
        self.backoff = backoff
        self.sleep = sleep
        self.clock = clock

    def send(self, firing: Firing, *, test: bool = False) -> None:
        from tenacity import (
            RetryError,
            Retrying,
            retry_if_exception_type,
            stop_after_attempt,
            stop_after_delay,
            wait_exponential,
        )

        body = json.dumps(firing.payload(test=test), separators=(",", ":")).encode()
        retrying = Retrying(
            stop=stop_after_attempt(self.attempts) | stop_after_delay(self.max_seconds),
            wait=wait_exponential(multiplier=self.backoff, max=4),
            retry=retry_if_exception_type(_Retryable),
            sleep=self.sleep,
        )
        try:
            for attempt in retrying:
                with attempt:
                    self._post(firing.id, body)
        except RetryError as error:
            cause = error.last_attempt.exception()
            raise DeliveryError(
                f"webhook {self._host()} failed {error.last_attempt.attempt_number} times: {cause}"
            ) from None

    def _post(self, firing_id: str, body: bytes) -> None:
        timestamp = str(int(self.clock()))
        headers = {
            "Content-Type": "application/json",
            ID_HEADER: firing_id,
            TIMESTAMP_HEADER: timestamp,
        }
        secret = self.secret()
        if secret:
            headers[SIGNATURE_HEADER] = sign(secret, timestamp, body)
        import httpx

        try:
            response = self.client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as error:
            raise _Retryable(f"{type(error).__name__}: {error}") from error
        if response.status_code == 429 or response.status_code >= 500:
            raise _Retryable(f"answered {response.status_code}")
        if not response.is_success:
            raise DeliveryError(
                f"webhook {self._host()} refused the message with {response.status_code}: "
                f"{response.text[:200]!r}; check NEBULA_ALERT_WEBHOOK_URL."
            )

    def _host(self) -> str:
        import httpx

        # The URL's path may carry a token (Slack, Discord): never log it.
        return httpx.URL(self.url).host or "?"


class SnsChannel:
    """Publish to an SNS topic (e-mail subscribers get `text`); the client is built at the edge.

    Messages carry the attribute `nebula_event=price-alert`, so a subscription can take price
    alerts only (the stack's alertEmail subscription filters on it).
    """

    name = "sns"

    def __init__(self, client: Any, topic_arn: str) -> None:
        self.client = client
        self.topic_arn = topic_arn

    def send(self, firing: Firing, *, test: bool = False) -> None:
        subject = f"{'[test] ' if test else ''}NebulaStream alert {firing.rule}: {firing.coin}"
        message = (
            f"{firing.text}\n\n{json.dumps(firing.payload(test=test), indent=1, sort_keys=True)}"
        )
        try:
            self.client.publish(
                TopicArn=self.topic_arn,
                Subject=subject[:100],
                Message=message,
                MessageAttributes={
                    "nebula_event": {"DataType": "String", "StringValue": "price-alert"},
                    "rule": {"DataType": "String", "StringValue": firing.rule},
                },
            )
        except Exception as error:  # botocore: credentials, throttling, a deleted topic
            raise DeliveryError(
                f"SNS {self.topic_arn} did not take the message: {error}"
            ) from error


class ConsoleChannel:
    """Locally, a line on the terminal; in Lambda, a log record."""

    name = "console"

    def __init__(self, emit: Callable[[str], None]) -> None:
        self.emit = emit

    def send(self, firing: Firing, *, test: bool = False) -> None:
        self.emit(f"{'[test] ' if test else ''}ALERT {firing.text} (id {firing.id})")
