from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import httpx
import pytest

from nebulastream.sources.base import SourceError
from nebulastream.sources.coingecko import USER_AGENT, CoinGecko, build_client
from tests.conftest import fixture_json, fixture_text

BASE = "https://api.coingecko.com/api/v3"
IDS = {"BTC": "bitcoin", "ETH": "ethereum", "SOL": "solana"}
SLOT = datetime(2026, 11, 28, 4, 5, tzinfo=UTC)
NOW = datetime(2026, 11, 28, 4, 5, 1, tzinfo=UTC)

Handler = Callable[[httpx.Request], httpx.Response]


def scripted(*responses: httpx.Response | Exception) -> tuple[Handler, list[httpx.Request]]:
    """A transport handler answering each request with the next scripted response."""
    seen: list[httpx.Request] = []
    queue: Iterator[httpx.Response | Exception] = iter(responses)

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = next(queue)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return handle, seen


def ok(body: str) -> httpx.Response:
    return httpx.Response(200, text=body, headers={"Content-Type": "application/json"})


def make_source(
    handler: Handler, *, api_key: str | None = None, base: str = BASE, deadline: float = 40.0
) -> tuple[CoinGecko, list[float]]:
    sleeps: list[float] = []
    client = build_client(base, api_key, transport=httpx.MockTransport(handler))
    source = CoinGecko(client, IDS, deadline=deadline, has_key=bool(api_key), sleep=sleeps.append)
    return source, sleeps


def test_one_call_fetches_every_coin_with_full_precision() -> None:
    handler, seen = scripted(ok(fixture_text("coingecko/simple_price.json")))
    source, _ = make_source(handler)

    batch = source.spot(fetched_at=NOW, slot=SLOT)

    assert len(seen) == 1
    params = seen[0].url.params
    assert seen[0].url.path == "/api/v3/simple/price"
    assert params["ids"] == "bitcoin,ethereum,solana"
    assert params["vs_currencies"] == "usd"
    assert params["include_last_updated_at"] == "true"
    assert params["precision"] == "full"
    btc = batch.observations[0]
    assert [o.coin for o in batch.observations] == ["BTC", "ETH", "SOL"]
    assert btc.price_usd == 91234.56789012345
    assert btc.market_cap_usd == 1806544263411.2375
    assert btc.volume_24h_usd == 48231290017.48763
    assert btc.change_24h_pct == -1.2334512987
    assert btc.observed_at == datetime(2026, 11, 28, 4, 3, 12, tzinfo=UTC)
    assert json.loads(btc.source_payload) == fixture_json("coingecko/simple_price.json")["bitcoin"]
    assert batch.missing == []


def test_requests_name_the_product_and_send_the_demo_key_header() -> None:
    handler, seen = scripted(ok(fixture_text("coingecko/simple_price.json")))
    source, _ = make_source(handler, api_key="CG-demo")
    source.spot(fetched_at=NOW, slot=SLOT)
    assert seen[0].headers["User-Agent"] == USER_AGENT
    assert seen[0].headers["x-cg-demo-api-key"] == "CG-demo"
    assert "x-cg-pro-api-key" not in seen[0].headers


def test_pro_host_gets_the_pro_key_header() -> None:
    handler, seen = scripted(ok(fixture_text("coingecko/simple_price.json")))
    source, _ = make_source(handler, api_key="CG-pro", base="https://pro-api.coingecko.com/api/v3")
    source.spot(fetched_at=NOW, slot=SLOT)
    assert seen[0].headers["x-cg-pro-api-key"] == "CG-pro"
    assert "x-cg-demo-api-key" not in seen[0].headers


def test_retry_after_header_is_honoured_then_a_500_is_retried() -> None:
    handler, seen = scripted(
        httpx.Response(429, headers={"Retry-After": "7"}, text="Throttled"),
        httpx.Response(500, text="oops"),
        ok(fixture_text("coingecko/simple_price.json")),
    )
    source, sleeps = make_source(handler)

    batch = source.spot(fetched_at=NOW, slot=SLOT)

    assert len(seen) == 3
    assert batch.attempts == 3
    assert sleeps[0] == 7.0
    assert 0 < sleeps[1] <= 3.0  # exponential backoff with jitter, not the 429's wait
    assert len(batch.observations) == 3


def test_retry_after_as_an_http_date_is_honoured() -> None:
    later = httpx.Response(429, headers={"Retry-After": "Wed, 21 Oct 2099 07:28:00 GMT"})
    handler, _ = scripted(later)
    source, sleeps = make_source(handler)
    with pytest.raises(SourceError) as caught:
        source.spot(fetched_at=NOW, slot=SLOT)
    # The wait is beyond the deadline: give up at once rather than sleep past the Lambda timeout.
    assert sleeps == []
    assert "429" in str(caught.value)
    assert "NEBULA_COINGECKO_API_KEY" in str(caught.value)
    assert "until" in str(caught.value)


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        (
            httpx.Response(
                200, text='{"bitcoin": {"usd": 912', headers={"Content-Type": "application/json"}
            ),
            "not valid JSON",
        ),
        (
            httpx.Response(
                200,
                text="<html><body>Just a moment...</body></html>",
                headers={"Content-Type": "text/html"},
            ),
            "HTML",
        ),
        (httpx.Response(200, text=""), "empty body"),
        (httpx.Response(503, text="Service Unavailable"), "HTTP 503"),
        (httpx.ReadTimeout("read timed out"), "timed out"),
        (httpx.ConnectError("connection refused"), "connection failed"),
    ],
    ids=["truncated", "html", "empty", "503", "read-timeout", "connect-error"],
)
def test_persistent_faults_are_retried_then_fail_with_one_line(
    fault: httpx.Response | Exception, reason: str
) -> None:
    handler, seen = scripted(*[fault] * 10)
    source, sleeps = make_source(handler)

    with pytest.raises(SourceError) as caught:
        source.spot(fetched_at=NOW, slot=SLOT)

    message = str(caught.value)
    assert len(seen) == 5  # bounded attempts
    assert len(sleeps) == 4
    assert sum(sleeps) < 40  # well within a 60-second Lambda
    assert reason in message
    assert "after 5 attempt(s)" in message
    assert "\n" not in message


def test_a_transient_fault_followed_by_a_good_answer_succeeds() -> None:
    handler, _ = scripted(
        httpx.Response(
            200, text='{"bitcoin": {"usd"', headers={"Content-Type": "application/json"}
        ),
        ok(fixture_text("coingecko/simple_price.json")),
    )
    source, _ = make_source(handler)
    assert len(source.spot(fetched_at=NOW, slot=SLOT).observations) == 3


def test_client_errors_are_not_retried_and_say_what_to_check() -> None:
    handler, seen = scripted(httpx.Response(401, json={"error": "invalid api key"}))
    source, sleeps = make_source(handler, api_key="bad")
    with pytest.raises(SourceError, match="NEBULA_COINGECKO_API_KEY") as caught:
        source.spot(fetched_at=NOW, slot=SLOT)
    assert len(seen) == 1
    assert sleeps == []
    assert "invalid api key" in str(caught.value)


def test_missing_coins_and_bad_prices_are_kept_raw_and_flagged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    handler, _ = scripted(ok(fixture_text("coingecko/simple_price_faults.json")))
    client = build_client(BASE, transport=httpx.MockTransport(handler))
    source = CoinGecko(client, {**IDS, "DOGE": "dogecoin"}, sleep=lambda _: None)

    batch = source.spot(fetched_at=NOW, slot=SLOT)

    by_coin = {o.coin: o for o in batch.observations}
    assert batch.missing == ["SOL"]
    assert set(by_coin) == {"BTC", "ETH", "DOGE"}
    assert by_coin["BTC"].problems() == []
    assert by_coin["BTC"].change_24h_pct is None
    assert by_coin["ETH"].price_usd == -3012.88  # raw keeps what the source said
    assert by_coin["ETH"].problems() == ["price is not positive (-3012.88)"]
    assert by_coin["DOGE"].price_usd is None
    assert by_coin["DOGE"].problems() == ["price is missing or null"]
    assert json.loads(by_coin["DOGE"].source_payload)["usd"] is None
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("SOL" in w for w in warnings)
    assert any("ETH" in w and "not positive" in w for w in warnings)


def test_non_finite_price_is_stored_as_null_with_the_verbatim_payload() -> None:
    body = (
        '{"bitcoin": {"usd": NaN, "last_updated_at": 1795838592},'
        ' "ethereum": {"usd": 1e999, "last_updated_at": 1795838592}}'
    )
    handler, _ = scripted(ok(body))
    source, _ = make_source(handler)
    batch = source.spot(fetched_at=NOW, slot=SLOT)
    btc, eth = batch.observations
    assert btc.price_usd is not None and math.isnan(btc.price_usd)
    assert "not finite" in btc.problems()[0]
    line = json.loads(btc.to_json_line())  # strict JSON: no NaN in the line itself
    assert line["price_usd"] is None
    assert line["source_payload"] == '{"usd":NaN,"last_updated_at":1795838592}'
    assert (
        json.loads(eth.to_json_line())["source_payload"]
        == '{"usd":Infinity,"last_updated_at":1795838592}'
    )
    assert batch.missing == ["SOL"]


def test_history_keeps_the_grid_served_inside_the_half_open_window() -> None:
    handler, seen = scripted(ok(fixture_text("coingecko/market_chart_range_bitcoin.json")))
    source, _ = make_source(handler)
    start = datetime(2026, 11, 27, tzinfo=UTC)
    end = datetime(2026, 11, 28, tzinfo=UTC)

    points = source.history("BTC", start, end, fetched_at=NOW)

    assert seen[0].url.path == "/api/v3/coins/bitcoin/market_chart/range"
    assert seen[0].url.params["from"] == str(int(start.timestamp()))
    assert seen[0].url.params["to"] == str(int(end.timestamp()))
    served = fixture_json("coingecko/market_chart_range_bitcoin.json")
    inside = [
        p for p in served["prices"] if start.timestamp() * 1000 <= p[0] < end.timestamp() * 1000
    ]
    assert [o.price_usd for o in points] == [p[1] for p in inside]
    assert [o.observed_at for o in points] == [
        datetime.fromtimestamp(p[0] / 1000, UTC) for p in inside
    ]
    assert points[-1].observed_at == datetime(2026, 11, 27, 0, 55, 17, tzinfo=UTC)  # off-grid kept
    caps = dict((t, v) for t, v in served["market_caps"])
    assert all(o.market_cap_usd == caps[int(o.observed_at.timestamp() * 1000)] for o in points)  # type: ignore[union-attr]
    assert all(o.change_24h_pct is None for o in points)


def test_history_without_a_prices_list_is_a_clear_error() -> None:
    handler, _ = scripted(ok('{"error": "coin not found"}'))
    source, _ = make_source(handler)
    with pytest.raises(SourceError, match="no 'prices' list"):
        source.history("BTC", SLOT, NOW, fetched_at=NOW)


class _NotGzip(httpx.SyncByteStream):
    def __iter__(self) -> Iterator[bytes]:
        yield b"this is not gzip"


def test_a_body_that_does_not_decode_is_retried_then_fails_with_one_line() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
        return httpx.Response(200, headers=headers, stream=_NotGzip())

    source, sleeps = make_source(handler)
    with pytest.raises(SourceError) as caught:
        source.spot(fetched_at=NOW, slot=SLOT)
    assert len(seen) == 5 and len(sleeps) == 4
    assert "could not be decoded" in str(caught.value)


def test_json_nested_deeper_than_python_reads_is_retried_then_fails_with_one_line() -> None:
    handler, seen = scripted(*[ok("[" * 100_000 + "]" * 100_000)] * 5)
    source, _ = make_source(handler)
    with pytest.raises(SourceError, match="nested too deeply"):
        source.spot(fetched_at=NOW, slot=SLOT)
    assert len(seen) == 5


@pytest.mark.parametrize("header", ["inf", "nan", "1e30", "Fri, 31 Dec 9999 23:59:59 GMT"])
def test_an_absurd_retry_after_gives_up_at_once_with_a_readable_hint(header: str) -> None:
    handler, _ = scripted(*[httpx.Response(429, headers={"Retry-After": header})] * 5)
    source, sleeps = make_source(handler)
    with pytest.raises(SourceError) as caught:
        source.spot(fetched_at=NOW, slot=SLOT)
    message = str(caught.value)
    assert "429" in message and "\n" not in message
    if header == "nan":  # no usable wait: plain backoff, so every attempt is made
        assert len(sleeps) == 4
    else:  # read as a day at most: past the deadline, so no sleep at all
        assert sleeps == []
        assert "wait 86400 s" in message


def test_values_outside_what_python_holds_become_null_not_a_crash() -> None:
    body = (
        '{"bitcoin": {"usd": 1' + "0" * 400 + ', "last_updated_at": 1e20},'
        ' "ethereum": {"usd": 3000.5, "last_updated_at": NaN},'
        ' "solana": {"usd": 200.5, "last_updated_at": 99999999999999999999}}'
    )
    handler, _ = scripted(ok(body))
    source, _ = make_source(handler)
    btc, eth, sol = source.spot(fetched_at=NOW, slot=SLOT).observations
    assert btc.price_usd is None and btc.observed_at is None
    assert json.loads(btc.to_json_line())["source_payload"].startswith('{"usd":1000')
    assert (eth.price_usd, eth.observed_at) == (3000.5, None)
    assert (sol.price_usd, sol.observed_at) == (200.5, None)


def test_history_points_with_unreadable_timestamps_are_skipped() -> None:
    start = datetime(2026, 11, 27, tzinfo=UTC)
    inside = int(start.timestamp() * 1000) + 60_000
    body = (
        f'{{"prices": [[NaN, 1.0], [Infinity, 2.0], [1{"0" * 400}, 3.0], [{inside}, 4.0]],'
        ' "market_caps": [], "total_volumes": []}'
    )
    handler, _ = scripted(ok(body))
    source, _ = make_source(handler)
    points = source.history("BTC", start, datetime(2026, 11, 28, tzinfo=UTC), fetched_at=NOW)
    assert [(o.observed_at, o.price_usd) for o in points] == [
        (datetime.fromtimestamp(inside / 1000, UTC), 4.0)
    ]


def test_each_attempt_waits_no_longer_than_the_time_left_before_the_deadline() -> None:
    clock = [1000.0]
    read_timeouts: list[float] = []

    def slow_server(request: httpx.Request) -> httpx.Response:
        read_timeouts.append(request.extensions["timeout"]["read"])
        clock[0] += 12.0  # each attempt spends 12 s before timing out
        raise httpx.ReadTimeout("read timed out", request=request)

    client = build_client(BASE, transport=httpx.MockTransport(slow_server))
    source = CoinGecko(client, IDS, deadline=40.0, sleep=lambda _: None, clock=lambda: clock[0])
    with pytest.raises(SourceError, match="no time left before the fetch deadline"):
        source.spot(fetched_at=NOW, slot=SLOT)
    assert read_timeouts == [10.0, 10.0, 10.0, 4.0]  # 40 s in all, not 4 x 10 s and more
