"""CoinGecko: current prices from /simple/price and history from /coins/{id}/market_chart/range."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from nebulastream.models import Observation
from nebulastream.sources import http
from nebulastream.sources.base import SourceError, SpotBatch, payload
from nebulastream.sources.http import USER_AGENT, JsonApi, RateLimiter

if TYPE_CHECKING:  # clients are built by http.build_client, which imports httpx
    import httpx

log = logging.getLogger(__name__)

SOURCE = "coingecko"
TITLE = "CoinGecko"
DEFAULT_BASE_URL = "https://api.coingecko.com/api/v3"
TERMS = (
    "Data provided by CoinGecko (https://www.coingecko.com/en/api); attribution required "
    "on the free plans"
)
PRO_HOST = "pro-api.coingecko.com"
# The Demo plan's published limit is 30 calls a minute (keyless use gets less); the scheduled
# fetch makes one call per slot, a backfill one per coin and day.
RATE_PER_SECOND = 0.5

# Symbol -> CoinGecko id, as data: the coins NebulaStream knows (nebulastream.coins), extended
# or overridden by NEBULA_COIN_IDS.
SYMBOLS: Mapping[str, str] = {
    "BTC": "bitcoin",
    "ETH": "ethereum",
    "SOL": "solana",
    "BNB": "binancecoin",
    "XRP": "ripple",
    "ADA": "cardano",
    "DOGE": "dogecoin",
    "AVAX": "avalanche-2",
    "DOT": "polkadot",
    "LINK": "chainlink",
    "LTC": "litecoin",
    "MATIC": "matic-network",
    "TRX": "tron",
    "USDC": "usd-coin",
    "USDT": "tether",
}

__all__ = ["SOURCE", "SYMBOLS", "USER_AGENT", "CoinGecko", "build_client", "parse_history"]


def build_client(
    base_url: str,
    api_key: str | None = None,
    *,
    timeout: float = 10.0,
    transport: httpx.BaseTransport | None = None,
) -> httpx.Client:
    """An httpx client for CoinGecko: the shared client, the key in the header its plan uses."""
    headers = {}
    if api_key:
        header = (
            "x-cg-pro-api-key" if urlsplit(base_url).hostname == PRO_HOST else "x-cg-demo-api-key"
        )
        headers[header] = api_key
    return http.build_client(base_url, headers=headers, timeout=timeout, transport=transport)


class CoinGecko:
    """Reads CoinGecko through a client built at the edge (see build_client)."""

    name = SOURCE

    def __init__(
        self,
        client: httpx.Client,
        coin_ids: Mapping[str, str],
        *,
        deadline: float = 40.0,
        has_key: bool = False,
        rate: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.coin_ids = dict(coin_ids)
        self.symbols = self.coin_ids
        self.has_key = has_key
        self.api = JsonApi(
            client,
            title=TITLE,
            deadline=deadline,
            limiter=RateLimiter(rate, clock=clock, sleep=sleep),
            client_error=_client_error,
            rate_limited_hint=None
            if has_key
            else "Set NEBULA_COINGECKO_API_KEY to raise the limit.",
            sleep=sleep,
            clock=clock,
        )

    def spot(self, *, fetched_at: datetime, slot: datetime) -> SpotBatch:
        """Current prices of every configured coin in ONE call (free tier: ~10k calls a month).

        Parses (trimmed real response)::

            {"bitcoin": {"usd": 67187.3, "usd_market_cap": 1.32e12, "usd_24h_vol": 3.1e10,
                         "usd_24h_change": -1.23, "last_updated_at": 1718000000}}

        Unknown ids are silently absent upstream; they are reported as missing here.
        """
        params = {
            "ids": ",".join(self.coin_ids.values()),
            "vs_currencies": "usd",
            "include_market_cap": "true",
            "include_24hr_vol": "true",
            "include_24hr_change": "true",
            "include_last_updated_at": "true",
            "precision": "full",
        }
        body, attempts = self.api.get("/simple/price", params)
        if not isinstance(body, dict):
            raise SourceError(
                f"CoinGecko /simple/price answered {type(body).__name__} instead of an object; "
                "check NEBULA_COINGECKO_BASE_URL points at a CoinGecko-compatible API."
            )
        observations, missing = [], []
        for symbol, coin_id in self.coin_ids.items():
            if coin_id not in body:
                missing.append(symbol)
                log.warning("CoinGecko left out %s (id %r) from its answer", symbol, coin_id)
                continue
            observation = parse_spot_entry(symbol, body[coin_id], fetched_at=fetched_at, slot=slot)
            for problem in observation.problems():
                log.warning("CoinGecko %s: %s; stored raw for curation to judge", symbol, problem)
            observations.append(observation)
        return SpotBatch(observations=observations, missing=missing, attempts=attempts)

    def history(
        self, symbol: str, start: datetime, end: datetime, *, fetched_at: datetime
    ) -> list[Observation]:
        """Every point CoinGecko serves for one coin in [start, end), in time order.

        The grid is CoinGecko's choice (5-minute for the last day, hourly up to 90 days,
        daily beyond), so callers keep windows to one day. Parses (trimmed real response)::

            {"prices": [[1732752000000, 95012.4], ...],
             "market_caps": [[1732752000000, 1.88e12], ...],
             "total_volumes": [[1732752000000, 6.1e10], ...]}
        """
        coin_id = self.coin_ids[symbol]
        params = {
            "vs_currency": "usd",
            "from": str(int(start.timestamp())),
            "to": str(int(end.timestamp())),
            "precision": "full",
        }
        body, _ = self.api.get(f"/coins/{coin_id}/market_chart/range", params)
        if not isinstance(body, dict) or not isinstance(body.get("prices"), list):
            raise SourceError(
                f"CoinGecko market_chart/range for {symbol} has no 'prices' list; "
                "check NEBULA_COINGECKO_BASE_URL points at a CoinGecko-compatible API."
            )
        return parse_history(symbol, body, start=start, end=end, fetched_at=fetched_at)


def _client_error(path: str, response: httpx.Response) -> str:
    hint = "check the coin ids (NEBULA_COIN_IDS) and NEBULA_COINGECKO_BASE_URL"
    if response.status_code in (401, 403):
        hint = (
            "check NEBULA_COINGECKO_API_KEY (a demo key works on api.coingecko.com, "
            "a pro key on pro-api.coingecko.com); demo keys only reach the last 365 days"
        )
    return (
        f"CoinGecko {path} answered HTTP {response.status_code} ({http.detail(response)}); {hint}."
    )


def _number(value: Any) -> float | None:
    """A JSON number as float; null, strings, booleans become None (the payload keeps them)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return float(value)
    except OverflowError:  # an integer beyond a double; the payload keeps it
        return None


def _utc_from_epoch(seconds: float | None) -> datetime | None:
    """An epoch time as UTC, or None when it is absent, not positive or past year 9999."""
    if seconds is None or not math.isfinite(seconds) or seconds <= 0:
        return None
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, ValueError, OSError):
        return None


def parse_spot_entry(
    symbol: str, entry: Any, *, fetched_at: datetime, slot: datetime
) -> Observation:
    """One coin's /simple/price entry as an Observation, whatever its shape."""
    fields = entry if isinstance(entry, dict) else {}
    observed_at = _utc_from_epoch(_number(fields.get("last_updated_at")))
    return Observation(
        coin=symbol,
        source=SOURCE,
        price_usd=_number(fields.get("usd")),
        market_cap_usd=_number(fields.get("usd_market_cap")),
        volume_24h_usd=_number(fields.get("usd_24h_vol")),
        change_24h_pct=_number(fields.get("usd_24h_change")),
        observed_at=observed_at,
        fetched_at=fetched_at,
        slot=slot,
        source_payload=payload(entry),
    )


def _points(series: Any) -> dict[int, Any]:
    points: dict[int, Any] = {}
    if isinstance(series, list):
        for point in series:
            if (
                isinstance(point, list)
                and len(point) == 2
                and (ms := _number(point[0])) is not None
                and math.isfinite(ms)
            ):
                points[int(ms)] = point[1]
    return points


def parse_history(
    symbol: str, body: dict[str, Any], *, start: datetime, end: datetime, fetched_at: datetime
) -> list[Observation]:
    """market_chart/range as Observations in [start, end), sorted by time, one per timestamp."""
    prices = _points(body.get("prices"))
    caps = _points(body.get("market_caps"))
    volumes = _points(body.get("total_volumes"))
    lo, hi = start.timestamp() * 1000, end.timestamp() * 1000
    observations = []
    for ms in sorted(prices):
        if not lo <= ms < hi:
            continue
        values = {
            "ts": ms,
            "price": prices[ms],
            "market_cap": caps.get(ms),
            "total_volume": volumes.get(ms),
        }
        observations.append(
            Observation(
                coin=symbol,
                source=SOURCE,
                price_usd=_number(prices[ms]),
                market_cap_usd=_number(caps.get(ms)),
                volume_24h_usd=_number(volumes.get(ms)),
                change_24h_pct=None,
                observed_at=datetime.fromtimestamp(ms / 1000, tz=UTC),
                fetched_at=fetched_at,
                slot=start,
                source_payload=payload(values),
            )
        )
    return observations
