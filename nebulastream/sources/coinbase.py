"""Coinbase Exchange: keyless 5-minute candles from /products/{product}/candles, for backfill."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from nebulastream.models import Observation
from nebulastream.sources import http
from nebulastream.sources.base import (
    SourceError,
    bucket_start,
    candle,
    number,
)
from nebulastream.sources.exchange import ExchangeCandles
from nebulastream.timeutil import iso_z

if TYPE_CHECKING:  # clients are built by http.build_client, which imports httpx
    import httpx

log = logging.getLogger(__name__)

SOURCE = "coinbase"
TITLE = "Coinbase Exchange"
DEFAULT_BASE_URL = "https://api.exchange.coinbase.com"
GRANULARITY = SPAN_SECONDS = 300  # seconds; the API takes 60, 300, 900, 3600, 21600, 86400
MAX_CANDLES = 300  # per request; asking for more is a 400
RATE_PER_SECOND = 10.0  # the public limit per IP (bursts of 15 are tolerated)
TERMS = (
    "Coinbase Exchange public market data, keyless; use is subject to Coinbase's terms "
    "(https://www.coinbase.com/legal/user_agreement)"
)

# Symbol -> Coinbase Exchange product, as data. Coins it does not trade against USD (BNB, TRX,
# USDC is the quote itself; MATIC became POL) are absent and skipped for this source.
SYMBOLS: Mapping[str, str] = {
    "BTC": "BTC-USD",
    "ETH": "ETH-USD",
    "SOL": "SOL-USD",
    "XRP": "XRP-USD",
    "ADA": "ADA-USD",
    "DOGE": "DOGE-USD",
    "AVAX": "AVAX-USD",
    "DOT": "DOT-USD",
    "LINK": "LINK-USD",
    "LTC": "LTC-USD",
    "USDT": "USDT-USD",
}


class Coinbase(ExchangeCandles):
    """Reads Coinbase Exchange candles through a client built at the edge (http.build_client)."""

    name = SOURCE
    title = TITLE
    span_seconds = GRANULARITY
    per_request = MAX_CANDLES
    default_symbols = SYMBOLS
    default_rate = RATE_PER_SECOND

    def page(
        self, symbol: str, market: str, lo: datetime, hi: datetime, *, fetched_at: datetime
    ) -> list[Observation]:
        """One page of at most 300 5-minute candles of [lo, hi)."""
        path = f"/products/{market}/candles"
        # (end - start) / granularity may be 300 at most; the end edge is the next page's
        # start, so a bucket served on both sides is merged away, none is missed.
        params = {"granularity": str(GRANULARITY), "start": iso_z(lo), "end": iso_z(hi)}
        body, _ = self.api.get(path, params)
        if not isinstance(body, list):
            raise SourceError(
                f"{TITLE} {path} answered {type(body).__name__} instead of a list of "
                "candles; check NEBULA_COINBASE_BASE_URL points at the Exchange API."
            )
        return parse_candles(symbol, body, fetched_at=fetched_at, page_start=lo)

    def client_error(self, path: str, response: httpx.Response) -> str:
        return _client_error(path, response)


def parse_candles(
    symbol: str, body: list[Any], *, fetched_at: datetime, page_start: datetime
) -> list[Observation]:
    """A candles answer as Observations, in the order served. Parses (trimmed real response)::

        [[1795823700, 95110.01, 95243.5, 95120.33, 95201.86, 12.38571329],
         [1795823400, 95002.11, 95180.0, 95050.0, 95120.33, 9.01327611]]

    Each row is [time, low, high, open, close, volume]: time is the bucket start in Unix
    seconds, **low comes before high**, volume is in the base coin, newest row first, and a
    bucket without trades is absent. A row of another shape is kept raw with null values.
    """
    observations = []
    for row in body:
        fields = row if isinstance(row, list) and len(row) == 6 else [None] * 6
        low, high, open_, close, volume = (number(v) for v in fields[1:])
        observation = candle(
            source=SOURCE,
            symbol=symbol,
            start=bucket_start(fields[0]),
            page_start=page_start,
            span_seconds=GRANULARITY,
            open_=open_,
            high=high,
            low=low,
            close=close,
            base_volume=volume,
            fetched_at=fetched_at,
            raw=row,
        )
        for problem in observation.problems():
            log.warning("%s %s: %s; stored raw for curation to judge", TITLE, symbol, problem)
        observations.append(observation)
    return observations


def _client_error(path: str, response: httpx.Response) -> str:
    hint = "check the product map (nebulastream/sources/coinbase.py) and NEBULA_COINBASE_BASE_URL"
    if response.status_code == 400:
        hint = "the request was refused as asked; check NEBULA_COINBASE_BASE_URL"
    return f"{TITLE} {path} answered HTTP {response.status_code} ({http.detail(response)}); {hint}."


CandleSource = Coinbase  # what the registry builds (registry.candle_source)
