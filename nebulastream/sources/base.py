"""What every source is and returns: the spot and history protocols, candles, the one error."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from nebulastream.models import Observation

if TYPE_CHECKING:  # the API imports this module and never builds a client
    import httpx


class SourceError(RuntimeError):
    """The source could not be read after retries. The message is one line for a user."""


@dataclass(frozen=True)
class SpotBatch:
    """The current prices of the configured coins from one call."""

    observations: list[Observation]
    missing: list[str] = field(default_factory=list)  # configured symbols the source left out
    attempts: int = 1


class Source(Protocol):
    """Anything in the registry: a name, the coins it lists (symbol -> its own id), a client."""

    @property
    def name(self) -> str: ...

    @property
    def symbols(self) -> Mapping[str, str]: ...

    @property
    def client(self) -> httpx.Client: ...  # closed by whoever built the source


class SpotSource(Source, Protocol):
    """Serves the current price of every configured coin in one call (the scheduled fetch)."""

    def spot(self, *, fetched_at: datetime, slot: datetime) -> SpotBatch: ...


class HistorySource(Source, Protocol):
    """Serves a coin's past observations (points or candles) in [start, end), in time order."""

    def history(
        self, symbol: str, start: datetime, end: datetime, *, fetched_at: datetime
    ) -> list[Observation]: ...


# -- candles: shared by every exchange source --------------------------------------------------


def page_ranges(
    start: datetime, end: datetime, *, step: int, limit: int
) -> list[tuple[datetime, datetime]]:
    """[start, end) cut into consecutive half-open pages of at most `limit` buckets of `step` s.

    Page edges sit on the bucket grid (multiples of `step` since the epoch), so a page never
    asks for a bucket twice and the union of the pages is every bucket starting in the range.
    """
    if step <= 0 or limit <= 0:
        raise ValueError(f"step and limit must be positive, not {step} and {limit}")
    first = math.floor(start.timestamp() / step) * step
    if first < start.timestamp():
        first += step
    stop = end.timestamp()
    pages = []
    lo = first
    while lo < stop:
        hi = min(lo + step * limit, math.ceil(stop / step) * step)
        pages.append((_utc(lo), _utc(hi)))
        lo = hi
    return pages


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def number(value: Any) -> float | None:
    """A JSON number or numeric string as float; anything else None (the payload keeps it).

    Exchanges send prices as strings (Bitstamp) or numbers (Coinbase); both are read, and a
    non-finite value is kept as such so the candle's problems() can say so.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            return float(value)
        except OverflowError:  # an integer beyond a double
            return None
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def bucket_start(value: Any) -> datetime | None:
    """A candle's Unix-seconds time (number or string) as UTC, or None when unusable."""
    seconds = number(value)
    if seconds is None or not math.isfinite(seconds) or seconds <= 0:
        return None
    try:
        return _utc(seconds)
    except (OverflowError, ValueError, OSError):
        return None


def payload(value: Any) -> str:
    """A source's own values, verbatim as compact JSON text (the raw zone's record)."""
    return json.dumps(value, separators=(",", ":"), allow_nan=True)


def candle(
    *,
    source: str,
    symbol: str,
    start: datetime | None,
    page_start: datetime,
    span_seconds: int,
    open_: float | None,
    high: float | None,
    low: float | None,
    close: float | None,
    base_volume: float | None,
    fetched_at: datetime,
    raw: Any,
) -> Observation:
    """One exchange candle as a raw Observation: ts = slot = bucket start, price = close.

    A candle whose bucket start could not be read keeps observed_at null (curation
    quarantines it) and the start of the page it came in as its slot.

    `volume_usd` is what traded in the span in USD, base volume x close (the exchanges report
    volume in the base coin); it is left null when either is missing or not finite.
    """
    volume_usd = None
    if base_volume is not None and close is not None:
        product = base_volume * close
        volume_usd = product if math.isfinite(product) else None
    return Observation(
        coin=symbol,
        source=source,
        price_usd=close,
        market_cap_usd=None,
        volume_24h_usd=None,
        change_24h_pct=None,
        observed_at=start,
        fetched_at=fetched_at,
        slot=start or page_start,
        source_payload=payload(raw),
        open_usd=open_,
        high_usd=high,
        low_usd=low,
        span_seconds=span_seconds,
        volume_usd=volume_usd,
    )


def merge_candles(
    candles: Iterable[Observation], start: datetime, end: datetime
) -> list[Observation]:
    """Candles of [start, end) sorted by bucket start, one per bucket (the last page wins).

    A candle whose time could not be read is kept at the end (the raw zone loses nothing;
    curation quarantines it); one outside the range belongs to another window and is dropped.
    """
    by_start: dict[datetime, Observation] = {}
    timeless = []
    for observation in candles:
        if observation.observed_at is None:
            timeless.append(observation)
        elif start <= observation.observed_at < end:
            by_start[observation.observed_at] = observation
    return [by_start[t] for t in sorted(by_start)] + timeless


def paged_candles(
    start: datetime,
    end: datetime,
    *,
    step: int,
    limit: int,
    page: Callable[[datetime, datetime], list[Observation]],
) -> list[Observation]:
    """Every candle of [start, end): one `page(lo, hi)` call per page of at most `limit`."""
    found: list[Observation] = []
    for lo, hi in page_ranges(start, end, step=step, limit=limit):
        found.extend(page(lo, hi))
    return merge_candles(found, start, end)


class UnlistedCoinError(SourceError):
    """A coin the source does not list; callers skip it for that source with a warning."""

    def __init__(self, source: str, symbol: str, listed: Iterable[str]) -> None:
        self.symbol = symbol
        super().__init__(
            f"{source} does not list {symbol} (it lists {', '.join(sorted(listed))}); "
            "choose another source with --source, see `nebula sources`."
        )
