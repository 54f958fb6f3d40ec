"""Every registry source serving 5-minute candles, through httpx.MockTransport."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from nebulastream.sources import registry
from nebulastream.sources.base import HistorySource, SourceError, UnlistedCoinError
from nebulastream.sources.http import USER_AGENT
from tests.conftest import fixture_json, fixture_text
from tests.fake_exchange import STEP, Exchange, Fault, make_candle

DAY = datetime(2026, 11, 27, tzinfo=UTC)
FETCHED = datetime(2026, 11, 30, 12, tzinfo=UTC)


@dataclass(frozen=True)
class Case:
    """What a test needs to know about one exchange: where its API lives and its shapes."""

    base_url: str
    fixture: str
    limit: int  # candles a request
    # A fixture's candles as (bucket start, open, high, low, close, base volume), any order.
    rows: Callable[[Any], list[tuple[int, float, float, float, float, float]]]
    # A raw candle with these values, in the exchange's own shape (for overrides).
    raw: Callable[[int, float, float, float, float], object]


CASES: dict[str, Case] = {
    "coinbase": Case(
        base_url="https://cb.test",
        fixture="coinbase/candles_btc_usd.json",
        limit=300,
        rows=lambda body: [(r[0], r[3], r[2], r[1], r[4], r[5]) for r in body],
        raw=lambda t, o, h, low, c: [t, low, h, o, c, 1.5],
    ),
    "bitstamp": Case(
        base_url="https://bs.test/api/v2",
        fixture="bitstamp/ohlc_btcusd.json",
        limit=1000,
        rows=lambda body: [
            tuple(float(r[k]) for k in ("timestamp", "open", "high", "low", "close", "volume"))
            for r in body["data"]["ohlc"]
        ],
        raw=lambda t, o, h, low, c: {
            "timestamp": t,
            "open": o,
            "high": h,
            "low": low,
            "close": c,
            "volume": 1.5,
        },
    ),
}
CANDLE_SOURCES = [n for n, s in registry.REGISTRY.items() if s.window_kind == "candles"]


def test_every_candle_source_in_the_registry_is_tested() -> None:
    assert sorted(CASES) == sorted(CANDLE_SOURCES)


def build(
    name: str, transport: httpx.BaseTransport, sleeps: list[float] | None = None, **kw: Any
) -> HistorySource:
    waits = sleeps if sleeps is not None else []
    options = registry.SourceOptions(
        base_url=CASES[name].base_url, transport=transport, sleep=waits.append, **kw
    )
    source: HistorySource = registry.build(name, options)
    return source


def answering(body: str, seen: list[httpx.Request] | None = None) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        return httpx.Response(200, text=body, headers={"Content-Type": "application/json"})

    return httpx.MockTransport(handle)


@pytest.mark.parametrize("name", CANDLE_SOURCES)
def test_a_recorded_answer_becomes_sorted_candles_with_every_value_in_place(name: str) -> None:
    case = CASES[name]
    seen: list[httpx.Request] = []
    source = build(name, answering(fixture_text(case.fixture), seen))

    candles = source.history("BTC", DAY, DAY + timedelta(minutes=30), fetched_at=FETCHED)

    sent = sorted(case.rows(fixture_json(case.fixture)))
    assert len(sent) == 5  # the fixture leaves out 00:10, as exchanges do without trades
    assert [
        (
            int(c.observed_at.timestamp()) if c.observed_at else None,
            c.open_usd,
            c.high_usd,
            c.low_usd,
            c.price_usd,
        )
        for c in candles
    ] == [(t, o, h, low, close) for t, o, h, low, close, _ in sent]
    for c, (*_, close, volume) in zip(candles, sent, strict=True):
        assert c.source == name and c.coin == "BTC" and c.span_seconds == 300
        assert c.slot == c.observed_at and c.fetched_at == FETCHED
        assert c.volume_usd == pytest.approx(volume * close)
        assert c.market_cap_usd is None and c.volume_24h_usd is None
        assert c.change_24h_pct is None
        assert c.problems() == []
    assert [json.loads(c.source_payload) for c in candles] == [
        raw for _, raw in sorted(_raw_by_time(name, fixture_json(case.fixture)).items())
    ]
    [request] = seen
    assert request.headers["User-Agent"] == USER_AGENT


def _raw_by_time(name: str, body: Any) -> dict[int, object]:
    rows = body if name == "coinbase" else body["data"]["ohlc"]
    return {int(r[0] if isinstance(r, list) else r["timestamp"]): r for r in rows}


@pytest.mark.parametrize("name", CANDLE_SOURCES)
@pytest.mark.parametrize("days", [1, 3, 4])
def test_paging_stays_within_the_request_limit_and_misses_no_candle(name: str, days: int) -> None:
    start, end = DAY, DAY + timedelta(days=days)
    buckets = range(int(start.timestamp()), int(end.timestamp()), STEP)
    # Gaps at a page edge and inside pages: absent upstream, absent here, nothing else lost.
    limit = CASES[name].limit
    edge = min(limit, len(buckets) - 1)
    missing = {buckets[0], buckets[edge - 1], buckets[edge], buckets[-1]}
    exchange = Exchange(missing=missing)
    source = build(name, exchange.transport())

    candles = source.history("BTC", start, end, fetched_at=FETCHED)

    expected = [t for t in buckets if t not in missing]
    assert [int(c.observed_at.timestamp()) for c in candles if c.observed_at] == expected
    assert len(exchange.requests) == math.ceil(len(buckets) / limit)
    served = [make_candle(95_000.0, t) for t in expected]
    assert [(c.open_usd, c.high_usd, c.low_usd, c.price_usd) for c in candles] == [
        (m.open, m.high, m.low, m.close) for m in served
    ]


@pytest.mark.parametrize("name", CANDLE_SOURCES)
def test_a_window_off_the_grid_keeps_only_buckets_starting_inside_it(name: str) -> None:
    exchange = Exchange()
    source = build(name, exchange.transport())
    start = DAY + timedelta(minutes=7)
    candles = source.history("BTC", start, DAY + timedelta(minutes=31), fetched_at=FETCHED)
    assert [c.observed_at for c in candles] == [
        DAY + timedelta(minutes=m) for m in (10, 15, 20, 25, 30)
    ]


FAULTS = {
    "429 with Retry-After": Fault(429, '{"message":"slow down"}', {"Retry-After": "7"}),
    "503": Fault(503, "upstream unavailable", {"Content-Type": "text/plain"}),
    "HTML": Fault(200, "<html><body>Cloudflare</body></html>", {"Content-Type": "text/html"}),
    "truncated": Fault(200, "[[1795737600, 94980.0, 950", {"Content-Type": "application/json"}),
    "empty": Fault(200, "", {"Content-Type": "application/json"}),
}


@pytest.mark.parametrize("name", CANDLE_SOURCES)
@pytest.mark.parametrize("fault", FAULTS)
def test_a_transient_fault_is_retried_and_the_candles_arrive(name: str, fault: str) -> None:
    exchange = Exchange(faults=[FAULTS[fault]])
    sleeps: list[float] = []
    source = build(name, exchange.transport(), sleeps)

    candles = source.history("BTC", DAY, DAY + timedelta(hours=1), fetched_at=FETCHED)

    assert len(candles) == 12 and len(exchange.requests) == 2
    if fault == "429 with Retry-After":
        assert 7.0 in sleeps  # the server's wait, not a guess


@pytest.mark.parametrize("name", CANDLE_SOURCES)
def test_a_timeout_is_retried(name: str) -> None:
    exchange = Exchange()
    calls = []

    def handle(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            raise httpx.ReadTimeout("read timed out", request=request)
        return exchange.transport().handle_request(request)

    source = build(name, httpx.MockTransport(handle))
    assert len(source.history("BTC", DAY, DAY + timedelta(hours=1), fetched_at=FETCHED)) == 12
    assert len(calls) == 2


@pytest.mark.parametrize("name", CANDLE_SOURCES)
@pytest.mark.parametrize("fault", ["503", "truncated"])
def test_a_persistent_fault_is_one_line_naming_the_source_and_the_reason(
    name: str, fault: str
) -> None:
    exchange = Exchange(faults=[FAULTS[fault]] * 10)
    source = build(name, exchange.transport())

    with pytest.raises(SourceError) as caught:
        source.history("BTC", DAY, DAY + timedelta(hours=1), fetched_at=FETCHED)

    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(registry.spec(name).title)
    assert "failed after 5 attempt(s)" in message
    assert ("HTTP 503" if fault == "503" else "not valid JSON") in message
    assert len(exchange.requests) == 5


@pytest.mark.parametrize("name", CANDLE_SOURCES)
def test_a_client_error_is_not_retried(name: str) -> None:
    exchange = Exchange(faults=[Fault(404, '{"message":"NotFound"}')])
    source = build(name, exchange.transport())
    with pytest.raises(SourceError, match="HTTP 404") as caught:
        source.history("BTC", DAY, DAY + timedelta(hours=1), fetched_at=FETCHED)
    assert len(exchange.requests) == 1
    assert f"NEBULA_{name.upper()}_BASE_URL" in str(caught.value)


@pytest.mark.parametrize("name", CANDLE_SOURCES)
def test_a_coin_the_exchange_does_not_list_is_refused_before_any_request(name: str) -> None:
    exchange = Exchange()
    source = build(name, exchange.transport())
    assert "BNB" not in source.symbols
    with pytest.raises(UnlistedCoinError, match="does not list BNB"):
        source.history("BNB", DAY, DAY + timedelta(hours=1), fetched_at=FETCHED)
    assert exchange.requests == []


@pytest.mark.parametrize("name", CANDLE_SOURCES)
@pytest.mark.parametrize(
    ("values", "says"),
    [
        ((100.0, 90.0, 110.0, 100.0), "inconsistent"),  # low > high
        ((100.0, 120.0, -1.0, 100.0), "not positive"),
        ((float("nan"), 120.0, 90.0, 100.0), "not finite"),
    ],
)
def test_a_malformed_candle_is_stored_raw_with_a_warning(
    name: str,
    values: tuple[float, float, float, float],
    says: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    t = int(DAY.timestamp())
    open_, high, low, close = values
    product = "BTC-USD" if name == "coinbase" else "btcusd"
    raw = CASES[name].raw(t, open_, high, low, close)
    if name != "coinbase":
        raw = {k: str(v) for k, v in raw.items()}  # type: ignore[attr-defined]
    exchange = Exchange(overrides={(product, t): raw})
    source = build(name, exchange.transport())

    with caplog.at_level(logging.WARNING):
        candles = source.history("BTC", DAY, DAY + timedelta(minutes=10), fetched_at=FETCHED)

    assert len(candles) == 2  # kept, not dropped: curation quarantines it with a reason
    bad = candles[0]
    assert bad.problems() and says in " ".join(bad.problems())
    assert json.loads(bad.source_payload.replace("NaN", "null")) is not None
    line = json.loads(bad.to_json_line())
    assert line["span_seconds"] == 300 and line["high_usd"] == high
    assert says in caplog.text


def test_the_registry_names_its_sources_and_defaults_follow_the_priority() -> None:
    assert list(registry.REGISTRY)[:2] == ["coingecko", "coinbase"]
    assert registry.default_spot(["coinbase", "coingecko"]).name == "coingecko"
    assert registry.default_backfill(["coingecko", "coinbase"]).name == "coinbase"
    with pytest.raises(registry.UnknownSourceError, match="known sources: coingecko, coinbase"):
        registry.spec("binance")
