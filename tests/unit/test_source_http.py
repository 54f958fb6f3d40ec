"""Shared source plumbing: paging over the bucket grid, the rate limit, candle parsing."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nebulastream.sources import bitstamp, coinbase
from nebulastream.sources.base import page_ranges, payload
from nebulastream.sources.http import RateLimiter

EPOCH_2020 = int(datetime(2020, 1, 1, tzinfo=UTC).timestamp())


@settings(deadline=None)  # a 4-day range in 1-bucket pages is thousands of pages
@given(
    start=st.integers(EPOCH_2020, EPOCH_2020 + 10 * 86400),
    length=st.integers(1, 4 * 86400),
    step=st.sampled_from([60, 300, 900, 3600]),
    limit=st.integers(1, 1000),
)
def test_pages_cover_every_bucket_of_the_range_once_within_the_limit(
    start: int, length: int, step: int, limit: int
) -> None:
    lo = datetime.fromtimestamp(start, tz=UTC)
    hi = lo + timedelta(seconds=length)
    pages = page_ranges(lo, hi, step=step, limit=limit)

    buckets = [t for t in range(start - start % step, start + length, step) if t >= start]
    paged = [
        t
        for a, b in pages
        for t in range(int(a.timestamp()), int(b.timestamp()), step)
        if start <= t < start + length
    ]
    assert paged == buckets  # every bucket starting in the range, once, in order
    assert all((b - a).total_seconds() <= step * limit for a, b in pages)
    assert all(a.timestamp() % step == 0 for a, _ in pages)
    assert all(pages[i][1] == pages[i + 1][0] for i in range(len(pages) - 1))


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_the_rate_limit_spaces_requests_evenly_at_the_rate() -> None:
    clock = FakeClock()
    limiter = RateLimiter(10.0, clock=clock, sleep=clock.sleep)
    sent = []
    for _ in range(31):
        limiter.wait()
        sent.append(clock.now)
    assert sent[0] == 100.0  # the first request goes at once
    assert sent[-1] - sent[0] == pytest.approx(3.0)  # 30 gaps of 0.1 s: exactly the rate, no burst
    assert min(b - a for a, b in itertools.pairwise(sent)) >= 0.1 - 1e-9


def test_time_spent_elsewhere_counts_toward_the_spacing() -> None:
    clock = FakeClock()
    limiter = RateLimiter(2.0, clock=clock, sleep=clock.sleep)
    limiter.wait()
    clock.now += 5.0  # a slow response or a retry's backoff
    assert limiter.wait() == 0.0
    assert limiter.wait() == 0.5


def test_no_rate_never_waits() -> None:
    clock = FakeClock()
    limiter = RateLimiter(None, clock=clock, sleep=clock.sleep)
    assert [limiter.wait() for _ in range(5)] == [0.0] * 5


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=7) | st.dictionaries(st.text(max_size=9), inner),
    max_leaves=12,
)
CANDLE_ROW = st.lists(
    st.one_of(st.integers(-(10**20), 10**20), st.floats(allow_nan=True), st.text(max_size=8)),
    min_size=6,
    max_size=6,
)
BITSTAMP_ENTRY = st.fixed_dictionaries(
    {
        k: st.one_of(st.text(max_size=10), st.integers(), st.floats(allow_nan=True), st.none())
        for k in ("timestamp", "open", "high", "low", "close", "volume")
    }
)
PAGE = datetime(2026, 11, 27, tzinfo=UTC)


@settings(max_examples=60)
@given(st.lists(st.one_of(CANDLE_ROW, JSON), max_size=8))
def test_any_coinbase_answer_parses_to_one_storable_line_per_row(body: list[object]) -> None:
    candles = coinbase.parse_candles("BTC", body, fetched_at=PAGE, page_start=PAGE)
    assert len(candles) == len(body)  # nothing dropped: curation judges what is malformed
    for c, row in zip(candles, body, strict=True):
        line = json.loads(c.to_json_line())  # always one valid JSON line
        assert line["span_seconds"] == 300
        assert c.source_payload == payload(row)


@settings(max_examples=60)
@given(st.lists(st.one_of(BITSTAMP_ENTRY, JSON), max_size=8))
def test_any_bitstamp_answer_parses_to_one_storable_line_per_entry(ohlc: list[object]) -> None:
    candles = bitstamp.parse_ohlc("BTC", ohlc, fetched_at=PAGE, page_start=PAGE)
    assert len(candles) == len(ohlc)
    for c, entry in zip(candles, ohlc, strict=True):
        json.loads(c.to_json_line())
        assert c.source_payload == payload(entry)
