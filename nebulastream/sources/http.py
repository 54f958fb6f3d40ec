"""HTTP for every source: one client factory, a client-side rate limit, deadline-capped retries.

A source module holds only its endpoints, its parsers and its symbol map; everything about
talking to an upstream over HTTP lives here, so every source handles faults the same way:
429 (honouring `Retry-After`), 5xx, timeouts, connection failures and HTML, empty or truncated
bodies are retried with backoff until the attempts or the deadline run out, then become one
`SourceError` line for a user.
"""

from __future__ import annotations

import email.utils
import json
import math
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from nebulastream import __version__
from nebulastream.sources.base import SourceError
from nebulastream.timeutil import iso_z

if TYPE_CHECKING:
    import httpx
    from tenacity import RetryCallState, Retrying

# httpx and tenacity are imported where a request is made: the settings and the API import
# the source modules (through the registry) for their names and defaults alone.

# Coinbase Exchange refuses requests without a User-Agent; every source sends the product's.
USER_AGENT = f"NebulaStream/{__version__} (+https://github.com/nebulastream/nebulastream)"

# A Retry-After beyond this is read as this: the wait is then past any deadline anyway, and
# the hint stays a date (an infinite or 10**30-second wait has none).
MAX_RETRY_AFTER = 86_400.0


def transient() -> tuple[type[Exception], ...]:
    """httpx's errors worth another try: timeouts, transport failures, undecodable bodies."""
    import httpx

    return (httpx.TimeoutException, httpx.TransportError, httpx.DecodingError)


def build_client(
    base_url: str,
    *,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10.0,
    transport: httpx.BaseTransport | None = None,
) -> httpx.Client:
    """The one way a source gets an httpx client: product User-Agent, JSON, bounded timeouts."""
    import httpx

    return httpx.Client(
        base_url=base_url,
        headers={"User-Agent": USER_AGENT, "Accept": "application/json", **(headers or {})},
        timeout=httpx.Timeout(timeout, connect=5.0),
        transport=transport,
    )


class RateLimiter:
    """At most `rate` requests a second from this process to one source, evenly spaced.

    Spacing requests (rather than bursting then waiting) keeps a long backfill exactly at the
    upstream's published rate without ever drawing a 429 from a token bucket that allows it.
    """

    def __init__(
        self,
        rate: float | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate is not None and not rate > 0:
            raise ValueError(f"a rate limit must be positive, not {rate!r}")
        self.interval = 0.0 if rate is None else 1.0 / rate
        self.clock = clock
        self.sleep = sleep
        self._next = -math.inf
        self._lock = threading.Lock()

    def wait(self) -> float:
        """Block until the next request may go; returns the seconds waited."""
        with self._lock:
            now = self.clock()
            start = max(now, self._next)
            self._next = start + self.interval
        waited = start - now
        if waited > 0:
            self.sleep(waited)
        return waited


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
        from tenacity import wait_exponential_jitter

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
    from tenacity import (
        Retrying,
        retry_if_exception_type,
        stop_after_attempt,
        stop_before_delay,
    )

    return Retrying(
        retry=retry_if_exception_type((RetryableError, *transient())),
        wait=_WaitRetryAfterOrBackoff(initial_wait, max_wait),
        stop=stop_after_attempt(attempts) | stop_before_delay(deadline),
        sleep=sleep,
        reraise=True,
    )


def next_try_hint(error: BaseException, now: float) -> str:
    """'; the server asks to wait 60 s (until 03:25Z)' when the server said when to come back."""
    if isinstance(error, RetryableError) and error.retry_after:
        when = datetime.fromtimestamp(now + error.retry_after, tz=UTC)
        return f"; the server asks to wait {error.retry_after:.0f} s (until {iso_z(when)})"
    return ""


def transport_reason(error: BaseException) -> str:
    """What went wrong on the wire, in words, with the exception for the curious."""
    if isinstance(error, RetryableError):
        return error.reason
    import httpx

    if isinstance(error, httpx.TimeoutException):
        kind = "timed out"
    elif isinstance(error, httpx.DecodingError):
        kind = "a body that could not be decoded"
    else:
        kind = "connection failed"
    return f"{kind} ({type(error).__name__}: {error})"


def decode_json(response: httpx.Response) -> Any:
    """The JSON body, or a RetryableError for HTML, empty or truncated bodies."""
    content_type = response.headers.get("Content-Type", "")
    text = response.text
    if "html" in content_type or text.lstrip()[:1] == "<":
        raise RetryableError(f"HTTP {response.status_code} with an HTML body, not JSON")
    if not text.strip():
        raise RetryableError(f"HTTP {response.status_code} with an empty body")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise RetryableError(
            f"HTTP {response.status_code} with a body that is not valid JSON "
            f"(truncated? {error.msg} at byte {error.pos} of {len(text)})"
        ) from None
    except RecursionError:
        raise RetryableError(
            f"HTTP {response.status_code} with JSON nested too deeply to read"
        ) from None


def _capped(configured: float | None, left: float) -> float:
    return left if configured is None else min(configured, left)


class JsonApi:
    """GET JSON from one upstream with the shared fault handling; one instance per source.

    `title` names the upstream in messages ("Coinbase Exchange"); `client_error` turns a 4xx
    other than 429 into the hint a user needs (it is not retried: asking again will not help);
    `rate_limited_hint` is appended when the last failure was a 429.
    """

    def __init__(
        self,
        client: httpx.Client,
        *,
        title: str,
        deadline: float = 40.0,
        limiter: RateLimiter | None = None,
        client_error: Callable[[str, httpx.Response], str] | None = None,
        rate_limited_hint: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.title = title
        self.deadline = deadline
        self.limiter = limiter or RateLimiter(None, clock=clock, sleep=sleep)
        self.client_error = client_error or self._default_client_error
        self.rate_limited_hint = rate_limited_hint
        self.sleep = sleep
        self.clock = clock

    def get(self, path: str, params: Mapping[str, str]) -> tuple[Any, int]:
        """The decoded body and the attempts it took; SourceError with one line on failure."""
        started = self.clock()
        attempt = 0
        failures: tuple[type[Exception], ...] = (RetryableError, *transient())
        try:
            for attempt_state in retrying(deadline=self.deadline, sleep=self.sleep):
                with attempt_state:
                    attempt = attempt_state.retry_state.attempt_number
                    self.limiter.wait()
                    left = self.deadline - (self.clock() - started)
                    return self._attempt(path, params, left), attempt
        except failures as error:
            raise SourceError(
                self._explain(path, error, attempt, self.clock() - started)
            ) from error
        raise AssertionError("unreachable")  # pragma: no cover

    def _attempt(self, path: str, params: Mapping[str, str], left: float) -> Any:
        import httpx

        if left <= 0:
            raise httpx.TimeoutException("no time left before the fetch deadline")
        # Each wait of this attempt is cut to the time left, so the call ends near its
        # deadline (well inside the Lambda timeout) rather than a whole timeout past it.
        configured = self.client.timeout
        timeout = httpx.Timeout(
            connect=_capped(configured.connect, left),
            read=_capped(configured.read, left),
            write=_capped(configured.write, left),
            pool=_capped(configured.pool, left),
        )
        response = self.client.get(path, params=dict(params), timeout=timeout)
        failure = classify(response, time.time())
        if failure is not None:
            raise failure
        if response.status_code >= 400:
            raise SourceError(self.client_error(path, response))
        return decode_json(response)

    def _default_client_error(self, path: str, response: httpx.Response) -> str:
        return f"{self.title} {path} answered HTTP {response.status_code} ({detail(response)})."

    def _explain(self, path: str, error: BaseException, attempts: int, elapsed: float) -> str:
        message = (
            f"{self.title} {path} failed after {attempts} attempt(s) in {elapsed:.1f} s; "
            f"last: {transport_reason(error)}{next_try_hint(error, time.time())}."
        )
        if isinstance(error, RetryableError) and "429" in error.reason and self.rate_limited_hint:
            message += f" {self.rate_limited_hint}"
        else:
            message += " Nothing was stored; the next run tries again."
        return message


def detail(response: httpx.Response) -> str:
    """The start of a response body on one line, for an error message."""
    return " ".join(response.text[:200].split())
