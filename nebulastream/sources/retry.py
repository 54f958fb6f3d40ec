"""Retry policy for upstream HTTP calls: what is worth another try and how long to wait."""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_before_delay,
    wait_exponential_jitter,
)

from nebulastream.timeutil import iso_z

# A Retry-After beyond this is read as this: the wait is then past any deadline anyway, and
# the hint stays a date (an infinite or 10**30-second wait has none).
MAX_RETRY_AFTER = 86_400.0


class RetryableError(Exception):
    """One failed attempt that another attempt may fix (429, 5xx, timeout, bad body)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, OverflowError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - now
    if math.isnan(seconds):
        return None
    return min(max(0.0, seconds), MAX_RETRY_AFTER)


def classify(response: httpx.Response, now: float) -> RetryableError | None:
    """The retryable failure a response represents, or None when it is not one."""
    if response.status_code == 429:
        return RetryableError(
            "HTTP 429 (rate limited)", parse_retry_after(response.headers.get("Retry-After"), now)
        )
    if response.status_code >= 500:
        return RetryableError(f"HTTP {response.status_code}")
    return None


class _WaitRetryAfterOrBackoff:
    """Honour the server's Retry-After when it sent one, else exponential backoff with jitter."""

    def __init__(self, initial: float, maximum: float) -> None:
        self.backoff = wait_exponential_jitter(initial=initial, max=maximum, jitter=initial)

    def __call__(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, RetryableError) and error.retry_after is not None:
            return error.retry_after
        return float(self.backoff(state))


def retrying(
    *,
    deadline: float,
    attempts: int = 5,
    initial_wait: float = 1.0,
    max_wait: float = 15.0,
    sleep: Callable[[float], None] = time.sleep,
) -> Retrying:
    """A tenacity policy bounded by attempts and by a deadline it will not sleep past."""
    return Retrying(
        retry=retry_if_exception_type(
            (RetryableError, httpx.TimeoutException, httpx.TransportError, httpx.DecodingError)
        ),
        wait=_WaitRetryAfterOrBackoff(initial_wait, max_wait),
        stop=stop_after_attempt(attempts) | stop_before_delay(deadline),
        sleep=sleep,
        reraise=True,
    )


def next_try_hint(error: BaseException, now: float) -> str:
    """'next try at 03:25Z' when the server said when it would accept us again."""
    if isinstance(error, RetryableError) and error.retry_after:
        when = datetime.fromtimestamp(now + error.retry_after, tz=UTC)
        return f"; the server asks to wait {error.retry_after:.0f} s (until {iso_z(when)})"
    return ""
