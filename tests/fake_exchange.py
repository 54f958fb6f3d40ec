"""An exchange-compatible candle API (Coinbase Exchange, Bitstamp) for tests and benchmarks.

`Exchange.answer(path, query)` is a pure function of the request, so unit tests wrap it in an
httpx.MockTransport and end-to-end tests and the benchmark serve it on 127.0.0.1 (`serve`).
It enforces what the real APIs enforce: Coinbase's 300 candles a request (more is a 400),
granularity 300, unknown products (404); Bitstamp's limit of 1..1000; optionally a rate limit
(a token bucket answering 429 like Coinbase's public limit). Candles are deterministic per
(product, bucket); `missing` buckets are absent as exchanges leave out intervals without trades.
Scripted `faults` are answered first, one per request (None: a normal answer), in order.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import httpx

STEP = 300
COINBASE_PRODUCTS = {"BTC-USD": 95_000.0, "ETH-USD": 3_600.0, "SOL-USD": 240.0}
BITSTAMP_PAIRS = {"btcusd": 95_000.0, "ethusd": 3_600.0, "solusd": 240.0}


@dataclass
class Fault:
    status: int
    body: str
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})


@dataclass(frozen=True)
class Candle:
    time: int
    open: float
    high: float
    low: float
    close: float
    volume: float


def make_candle(base: float, t: int) -> Candle:
    """A deterministic, consistent candle for bucket start `t` (low <= open, close <= high)."""
    wobble = ((t // STEP) * 7919 % 1000) / 1000  # 0..1, differs bucket to bucket
    open_ = round(base * (1 + (wobble - 0.5) / 100), 2)
    close = round(base * (1 + (((t // STEP + 1) * 7919 % 1000) / 1000 - 0.5) / 100), 2)
    return Candle(
        time=t,
        open=open_,
        high=round(max(open_, close) * 1.001, 2),
        low=round(min(open_, close) * 0.999, 2),
        close=close,
        volume=round(1 + wobble * 10, 8),
    )


class TokenBucket:
    """`rate` requests a second with bursts of `burst`: what a public API limit looks like."""

    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic):
        self.rate, self.burst, self.clock = rate, burst, clock
        self.tokens, self.at = burst, clock()
        self.lock = threading.Lock()

    def take(self) -> bool:
        with self.lock:
            now = self.clock()
            self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
            self.at = now
            if self.tokens >= 1:
                self.tokens -= 1
                return True
            return False


@dataclass
class Exchange:
    """Both APIs over one deterministic market; counts what it was asked."""

    missing: set[int] = field(default_factory=set)  # bucket starts with no candle
    faults: list[Fault | None] = field(default_factory=list)  # None: answer this one normally
    limit: TokenBucket | None = None
    coinbase: dict[str, float] = field(default_factory=lambda: dict(COINBASE_PRODUCTS))
    bitstamp: dict[str, float] = field(default_factory=lambda: dict(BITSTAMP_PAIRS))
    overrides: dict[tuple[str, int], list[object]] = field(default_factory=dict)  # raw rows
    requests: list[str] = field(default_factory=list)
    refused: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def candles(self, base: float, first: int, last: int) -> list[Candle]:
        """Candles with bucket start in [first, last] (both inclusive), oldest first."""
        start = -(-first // STEP) * STEP
        return [make_candle(base, t) for t in range(start, last + 1, STEP) if t not in self.missing]

    def answer(self, path: str, query: dict[str, str]) -> tuple[int, dict[str, str], str]:
        with self.lock:
            self.requests.append(path + "?" + "&".join(f"{k}={v}" for k, v in query.items()))
            fault = self.faults.pop(0) if self.faults else None
            if fault is not None:
                return fault.status, fault.headers, fault.body
        if self.limit is not None and not self.limit.take():
            with self.lock:
                self.refused += 1
            return 429, _json, json.dumps({"message": "Public rate limit exceeded"})
        parts = [p for p in path.split("/") if p]
        if len(parts) == 3 and parts[0] == "products" and parts[2] == "candles":
            return self._coinbase(parts[1], query)
        if len(parts) == 4 and parts[:3] == ["api", "v2", "ohlc"]:
            return self._bitstamp(parts[3], query)
        return 404, _json, json.dumps({"message": "NotFound"})

    def _coinbase(self, product: str, query: dict[str, str]) -> tuple[int, dict[str, str], str]:
        if product not in self.coinbase:
            return 404, _json, json.dumps({"message": "NotFound"})
        if query.get("granularity") != str(STEP):
            return 400, _json, json.dumps({"message": "Unsupported granularity"})
        start = int(datetime.fromisoformat(query["start"]).timestamp())
        end = int(datetime.fromisoformat(query["end"]).timestamp())
        if (end - start) / STEP > 300:
            return (
                400,
                _json,
                json.dumps(
                    {
                        "message": "granularity too small for the requested time range. "
                        "Count of aggregations requested exceeds 300"
                    }
                ),
            )
        rows: list[object] = [
            self.overrides.get(
                (product, c.time), [c.time, c.low, c.high, c.open, c.close, c.volume]
            )
            for c in self.candles(self.coinbase[product], start, end)
        ]
        return 200, _json, json.dumps(rows[::-1])  # newest first

    def _bitstamp(self, pair: str, query: dict[str, str]) -> tuple[int, dict[str, str], str]:
        if pair not in self.bitstamp:
            return 404, _json, json.dumps({"errors": [{"message": "Not found"}], "code": "404"})
        limit = int(query.get("limit", "1000"))
        if not 1 <= limit <= 1000 or query.get("step") != str(STEP):
            return 400, _json, json.dumps({"errors": [{"field": "limit", "message": "bad"}]})
        end = int(query["end"])
        start = end - (limit - 1) * STEP  # with both given, Bitstamp counts back from end
        ohlc = [
            self.overrides.get(
                (pair, c.time),
                {
                    "timestamp": str(c.time),
                    "open": f"{c.open}",
                    "high": f"{c.high}",
                    "low": f"{c.low}",
                    "close": f"{c.close}",
                    "volume": f"{c.volume}",
                },
            )
            for c in self.candles(self.bitstamp[pair], start, end)
        ]
        pair_name = f"{pair[:-3].upper()}/{pair[-3:].upper()}"
        return 200, _json, json.dumps({"data": {"pair": pair_name, "ohlc": ohlc}})

    def transport(self) -> httpx.MockTransport:
        """The exchange as an httpx transport, for unit tests."""

        def handle(request: httpx.Request) -> httpx.Response:
            query = {k: v for k, v in request.url.params.items()}
            status, headers, body = self.answer(request.url.path, query)
            return httpx.Response(status, text=body, headers=headers)

        return httpx.MockTransport(handle)


_json = {"Content-Type": "application/json"}


@contextmanager
def serve(exchange: Exchange) -> Iterator[str]:
    """Yield the root URL (http://127.0.0.1:port) of a server answering as `exchange`.

    Coinbase's base URL is the root; Bitstamp's is root + "/api/v2".
    """

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the real APIs

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            status, headers, body = exchange.answer(url.path, query)
            payload = body.encode()
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
