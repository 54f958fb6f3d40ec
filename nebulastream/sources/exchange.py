"""What every exchange candle source shares: its client and retry loop, the listed-coin
check, and paging a window within the per-request limit. A source module subclasses
ExchangeCandles with its constants and one `page` call (coinbase.py, bitstamp.py)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

from nebulastream.models import Observation
from nebulastream.sources.base import UnlistedCoinError, paged_candles
from nebulastream.sources.http import JsonApi, RateLimiter

if TYPE_CHECKING:  # clients are built by http.build_client, which imports httpx
    import httpx


class ExchangeCandles:
    """An exchange's candles read through a client built at the edge (http.build_client)."""

    name: ClassVar[str]
    title: ClassVar[str]
    span_seconds: ClassVar[int]
    per_request: ClassVar[int]
    default_symbols: ClassVar[Mapping[str, str]]  # symbol -> the exchange's market name
    default_rate: ClassVar[float]  # requests per second this source allows from one IP

    def __init__(
        self,
        client: httpx.Client,
        *,
        symbols: Mapping[str, str] | None = None,
        deadline: float = 40.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.symbols = dict(self.default_symbols if symbols is None else symbols)
        self.api = JsonApi(
            client,
            title=self.title,
            deadline=deadline,
            limiter=RateLimiter(self.default_rate, clock=clock, sleep=sleep),
            client_error=self.client_error,
            sleep=sleep,
            clock=clock,
        )

    def history(
        self, symbol: str, start: datetime, end: datetime, *, fetched_at: datetime
    ) -> list[Observation]:
        """Every candle of [start, end), oldest first, in pages of at most `per_request`."""
        if symbol not in self.symbols:
            raise UnlistedCoinError(self.name, symbol, self.symbols)
        market = self.symbols[symbol]
        return paged_candles(
            start,
            end,
            step=self.span_seconds,
            limit=self.per_request,
            page=lambda lo, hi: self.page(symbol, market, lo, hi, fetched_at=fetched_at),
        )

    def page(
        self, symbol: str, market: str, lo: datetime, hi: datetime, *, fetched_at: datetime
    ) -> list[Observation]:
        """The candles of one page [lo, hi), within the per-request limit."""
        raise NotImplementedError

    def client_error(self, path: str, response: httpx.Response) -> str:
        """The one line a 4xx other than 429 becomes (not retried)."""
        raise NotImplementedError
