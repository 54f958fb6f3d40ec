"""Bitstamp: keyless 5-minute candles from /ohlc/{pair}/, for backfill."""

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

if TYPE_CHECKING:  # clients are built by http.build_client, which imports httpx
    import httpx

log = logging.getLogger(__name__)

SOURCE = "bitstamp"
TITLE = "Bitstamp"
DEFAULT_BASE_URL = "https://www.bitstamp.net/api/v2"
STEP = SPAN_SECONDS = 300  # seconds per candle
MAX_CANDLES = 1000  # per request (limit=1..1000)
RATE_PER_SECOND = 10.0  # inside the published 8,000 requests per 10 minutes
TERMS = (
    "Bitstamp public market data, keyless; use is subject to Bitstamp's terms "
    "(https://www.bitstamp.net/terms-of-use/)"
)

# Symbol -> Bitstamp currency pair, as data. Coins without a USD pair there are absent.
SYMBOLS: Mapping[str, str] = {
    "BTC": "btcusd",
    "ETH": "ethusd",
    "SOL": "solusd",
    "XRP": "xrpusd",
    "ADA": "adausd",
    "DOGE": "dogeusd",
    "AVAX": "avaxusd",
    "DOT": "dotusd",
    "LINK": "linkusd",
    "LTC": "ltcusd",
    "USDC": "usdcusd",
    "USDT": "usdtusd",
}


class Bitstamp(ExchangeCandles):
    """Reads Bitstamp OHLC through a client built at the edge (http.build_client)."""

    name = SOURCE
    title = TITLE
    span_seconds = STEP
    per_request = MAX_CANDLES
    default_symbols = SYMBOLS
    default_rate = RATE_PER_SECOND

    def page(
        self, symbol: str, market: str, lo: datetime, hi: datetime, *, fetched_at: datetime
    ) -> list[Observation]:
        """One page of at most 1000 5-minute candles of [lo, hi)."""
        path = f"/ohlc/{market}/"
        count = round((hi - lo).total_seconds() / STEP)
        # With start and end both given Bitstamp counts `limit` candles back from end, so
        # end is the page's last bucket and limit its size: either reading gives [lo, hi).
        params = {
            "step": str(STEP),
            "limit": str(count),
            "start": str(int(lo.timestamp())),
            "end": str(int(hi.timestamp()) - STEP),
            "exclude_current_candle": "true",
        }
        body, _ = self.api.get(path, params)
        ohlc = body.get("data", {}).get("ohlc") if isinstance(body, dict) else None
        if not isinstance(ohlc, list):
            raise SourceError(
                f"{TITLE} {path} has no data.ohlc list; check NEBULA_BITSTAMP_BASE_URL "
                "points at Bitstamp's API v2."
            )
        return parse_ohlc(symbol, ohlc, fetched_at=fetched_at, page_start=lo)

    def client_error(self, path: str, response: httpx.Response) -> str:
        return _client_error(path, response)


def parse_ohlc(
    symbol: str, ohlc: list[Any], *, fetched_at: datetime, page_start: datetime
) -> list[Observation]:
    """The `data.ohlc` list as Observations, in the order served. Parses (trimmed real answer)::

        {"data": {"pair": "BTC/USD", "ohlc": [
            {"timestamp": "1795737600", "open": "95014", "high": "95081", "low": "94976",
             "close": "95047", "volume": "3.21066431"}, ...]}}

    Every value is a string; timestamp is the bucket start in Unix seconds, volume in the
    base coin, oldest first. An entry of another shape is kept raw with null values.
    """
    observations = []
    for entry in ohlc:
        fields = entry if isinstance(entry, dict) else {}
        observation = candle(
            source=SOURCE,
            symbol=symbol,
            start=bucket_start(fields.get("timestamp")),
            page_start=page_start,
            span_seconds=STEP,
            open_=number(fields.get("open")),
            high=number(fields.get("high")),
            low=number(fields.get("low")),
            close=number(fields.get("close")),
            base_volume=number(fields.get("volume")),
            fetched_at=fetched_at,
            raw=entry,
        )
        for problem in observation.problems():
            log.warning("%s %s: %s; stored raw for curation to judge", TITLE, symbol, problem)
        observations.append(observation)
    return observations


def _client_error(path: str, response: httpx.Response) -> str:
    hint = "check the pair map (nebulastream/sources/bitstamp.py) and NEBULA_BITSTAMP_BASE_URL"
    return f"{TITLE} {path} answered HTTP {response.status_code} ({http.detail(response)}); {hint}."


CandleSource = Bitstamp  # what the registry builds (registry.candle_source)
