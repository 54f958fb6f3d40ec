"""The API's use cases over any engine: input rules, latest, history, coins and health."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field

from nebulastream import completeness
from nebulastream.coins import SYMBOLS_PATTERN, parse_symbols
from nebulastream.query import sql
from nebulastream.query.base import Query, QueryEngine
from nebulastream.ranges import LATEST_DAY, RangeRuleError, check_history, check_order
from nebulastream.timeutil import (
    EARLIEST_DAY,
    TimeFormatError,
    TimeRangeError,
    UtcTime,
    floor_to,
    next_slot,
    parse_time,
)

MAX_POINTS = 10_000
DEFAULT_RANGE = timedelta(hours=24)
ONE_DAY = timedelta(days=1)


class QueryInputError(ValueError):
    """Malformed input from a user (not in the documented form); the message says what to change."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter


class QueryRuleError(QueryInputError):
    """Well-formed input that breaks a rule no schema states: start < end, a bucket limit, a
    calendar date, the range of times that can hold prices."""


class UnknownCoinQueryError(QueryInputError):
    """A well-formed symbol that is not a known coin."""


class Interval(StrEnum):
    """History bucket sizes; buckets start at multiples of the size since the Unix epoch."""

    M5 = "5m"
    M15 = "15m"
    H1 = "1h"
    H4 = "4h"
    D1 = "1d"

    @property
    def seconds(self) -> int:
        return _INTERVAL_SECONDS[self]


_INTERVAL_SECONDS = {
    Interval.M5: 300,
    Interval.M15: 900,
    Interval.H1: 3600,
    Interval.H4: 14400,
    Interval.D1: 86400,
}


# The answers' items, defined once: the API serialises these very objects (api/models.py wraps
# them in its envelopes), so a field added here is in the HTTP answer and the OpenAPI document.


@dataclass(frozen=True)
class LatestPrice:
    coin: Annotated[str, Field(examples=["BTC"])]
    price_usd: Annotated[float, Field(examples=[67187.3])]
    market_cap_usd: Annotated[float | None, Field(examples=[1.32e12])]
    volume_24h_usd: Annotated[float | None, Field(examples=[3.1e10])]
    change_24h_pct: Annotated[float | None, Field(examples=[-1.23])]
    ts: Annotated[UtcTime, Field(description="When the source observed this price.")]
    source: Annotated[str, Field(examples=["coingecko"])]


@dataclass(frozen=True)
class HistoryPoint:
    """One non-empty bucket of a history."""

    ts: Annotated[
        UtcTime, Field(description="Bucket start: a multiple of the interval since the epoch.")
    ]
    open: Annotated[float, Field(description="First price in the bucket.", examples=[3521.4])]
    high: Annotated[float, Field(examples=[3530.0])]
    low: Annotated[float, Field(examples=[3518.2])]
    close: Annotated[float, Field(description="Last price in the bucket.", examples=[3525.9])]
    samples: Annotated[int, Field(description="Observations in the bucket.", examples=[12])]
    market_cap_usd: Annotated[float | None, Field(description="Of the last observation.")]
    volume_24h_usd: Annotated[float | None, Field(description="Of the last observation.")]
    sources: Annotated[
        list[str],
        Field(description="The sources the bucket's rows came from.", examples=[["coingecko"]]),
    ]


@dataclass(frozen=True)
class SourceSpan:
    """What one source holds for a coin."""

    source: Annotated[str, Field(examples=["coinbase"])]
    first_ts: UtcTime
    last_ts: UtcTime
    rows: Annotated[int, Field(examples=[105120])]


@dataclass(frozen=True)
class CoinInfo:
    coin: Annotated[str, Field(examples=["BTC"])]
    first_ts: Annotated[UtcTime | None, Field(description="Oldest observation; null without data.")]
    last_ts: Annotated[UtcTime | None, Field(description="Newest observation; null without data.")]
    rows: Annotated[
        int, Field(description="Stored observations (deduplicated).", examples=[105120])
    ]
    sources: Annotated[list[SourceSpan], Field(description="Per source, by name.")]
    # Completeness of the 5-minute grid (nebulastream/completeness.py, docs/heal.md).
    completeness: Annotated[
        float | None,
        Field(
            description="Slots with an observation from any source / expected 5-minute slots, "
            "from the coin's first observation to the lake's last fetched slot; null without "
            "data.",
            examples=[0.9993],
        ),
    ] = None
    completeness_30d: Annotated[
        float | None,
        Field(description="The same over the last 30 days.", examples=[1.0]),
    ] = None
    gaps: Annotated[
        int, Field(description="Runs of missing 5-minute slots over the whole range.", examples=[2])
    ] = 0
    missing_slots: Annotated[
        int, Field(description="Missing 5-minute slots over the whole range.", examples=[5])
    ] = 0


@dataclass(frozen=True)
class CoinHealth:
    coin: str
    newest_ts: UtcTime | None
    age_seconds: float | None
    stale: Annotated[bool, Field(description="Newest observation older than two fetch intervals.")]
    gaps_24h: Annotated[
        int, Field(description="Runs of missing 5-minute slots in the last 24 hours.")
    ] = 0


def _shorten(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


_SYMBOLS = re.compile(SYMBOLS_PATTERN)
_SYMBOLS_HELP = (
    "use ticker symbols of ASCII letters and digits, comma-separated (e.g. coin=BTC,ETH)"
)


def parse_coins(value: str | None, known: Mapping[str, str], default: Sequence[str]) -> list[str]:
    """'btc,ETH' -> ['BTC', 'ETH']; None -> `default`. Anything but SYMBOLS_PATTERN is refused."""
    if value is None:
        return list(default)
    if not _SYMBOLS.fullmatch(value):
        raise QueryInputError("coin", f"coin={_shorten(value)!r}: {_SYMBOLS_HELP}.")
    symbols = parse_symbols(value)
    unknown = [s for s in symbols if s not in known]
    if unknown:
        names = ", ".join(repr(_shorten(s)) for s in unknown[:3])
        raise UnknownCoinQueryError(
            "coin",
            f"Unknown coin {names}. Use ticker symbols, comma-separated, from: "
            f"{', '.join(sorted(known))} (e.g. coin=BTC,ETH).",
        )
    return symbols


def parse_source(value: str | None, ranked: Sequence[str]) -> sql.Sources:
    """'best' (or None) -> per slot the first of the `ranked` sources that has it; one of
    their names -> its rows only; anything else is refused."""
    name = (value or "best").strip().lower()
    if name == "best":
        return sql.Sources(tuple(ranked))
    if name not in ranked:
        raise QueryInputError(
            "source",
            f"source={_shorten(value or '')!r} is not a source: use best (the default: each "
            f"5-minute slot from the first of {', '.join(ranked)} that has it) or one of them.",
        )
    return sql.Sources(tuple(ranked), only=name)


def parse_one_coin(value: str, known: Mapping[str, str]) -> str:
    coins = parse_coins(value, known, ())
    if len(coins) != 1:
        raise QueryInputError(
            "coin", f"History is per coin: give one symbol (e.g. coin=ETH), not {len(coins)}."
        )
    return coins[0]


def _ceil_ms(moment: datetime) -> datetime:
    # Stored times have millisecond precision: rounding a bound up to the next millisecond
    # keeps `ts >= start` and `ts < end` exact while the engines compare milliseconds.
    if moment.microsecond % 1000:
        return moment + timedelta(microseconds=1000 - moment.microsecond % 1000)
    return moment


def parse_bound(name: str, value: str | None) -> datetime | None:
    """None stays None; text not in TIME_PATTERN is malformed; a time no price has breaks a rule."""
    if value is None:
        return None
    try:
        moment = parse_time(value)
    except TimeRangeError:
        raise QueryRuleError(
            name,
            f"{name}={_shorten(value)!r} is out of range: use a date on the calendar between "
            f"{EARLIEST_DAY} and {LATEST_DAY}.",
        ) from None
    except TimeFormatError:
        raise QueryInputError(
            name,
            f"{name}={_shorten(value)!r} is not a time: use RFC 3339 such as "
            "2026-11-01T00:00:00Z or Unix seconds such as 1793491200.",
        ) from None
    try:
        check_history(name, moment, value)
    except RangeRuleError as error:
        raise QueryRuleError(error.parameter, str(error)) from None
    return _ceil_ms(moment)


def resolve_range(
    start: str | None, end: str | None, now: datetime, fetch_interval_seconds: int
) -> tuple[datetime, datetime]:
    """[start, end) from the user's bounds: end defaults to now, start to 24 hours before end.

    "Now" is the next fetch slot boundary, so repeated requests within a fetch interval are
    identical queries (Athena reuses their results) and still miss no stored row.
    """
    lo, hi = parse_bound("start", start), parse_bound("end", end)
    if hi is None:
        hi = next_slot(now, fetch_interval_seconds)
    if lo is None:
        lo = hi - DEFAULT_RANGE
    try:
        check_order(lo, hi)
    except RangeRuleError as error:
        raise QueryRuleError(error.parameter, str(error)) from None
    return lo, hi


def bucket_count(start: datetime, end: datetime, interval: Interval) -> int:
    first = floor_to(start, interval.seconds)
    return math.ceil((end - first).total_seconds() / interval.seconds)


def check_points(start: datetime, end: datetime, interval: Interval) -> None:
    count = bucket_count(start, end, interval)
    if count <= MAX_POINTS:
        return
    coarser = [i for i in Interval if bucket_count(start, end, i) <= MAX_POINTS]
    hint = (
        f"use interval={coarser[0].value} ({bucket_count(start, end, coarser[0]):,} points) "
        "or a shorter range"
        if coarser
        else f"use a range of at most {MAX_POINTS:,} days"
    )
    raise QueryRuleError(
        "interval",
        f"[start, end) at interval={interval.value} is {count:,} points, more than "
        f"{MAX_POINTS:,}: {hint}.",
    )


def _utc(value: Any) -> datetime:
    moment: datetime = value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def _raw_since(now: datetime, raw_lookback_days: int) -> date:
    return now.date() - timedelta(days=raw_lookback_days)


def latest(
    engine: QueryEngine,
    coins: Sequence[str],
    now: datetime,
    raw_lookback_days: int,
    sources: sql.Sources = sql.BEST,
) -> list[LatestPrice]:
    """The newest observation of each coin, looking back over the newest days only.

    The look-back starts at the newest two days (ending at the engine's newest partition,
    or today) and widens fourfold only for coins not found yet, so a healthy lake reads two
    days and a coin that stopped being fetched costs a few more partition-pruned queries.
    """
    newest = engine.newest_day() or now.date()
    hi = max(newest, now.date()) + ONE_DAY
    span = 2
    missing = tuple(coins)
    found: dict[str, LatestPrice] = {}
    raw_since = _raw_since(now, raw_lookback_days)
    while missing:
        lo = max(hi - timedelta(days=span), EARLIEST_DAY)
        statement = sql.latest(missing, (lo, hi), sources)
        rows = engine.execute(Query(statement, (lo, hi), missing, raw_since))
        for coin, price, cap, volume, change, ts, source in rows:
            found[coin] = LatestPrice(coin, price, cap, volume, change, _utc(ts), source)
        missing = tuple(c for c in missing if c not in found)
        if lo <= EARLIEST_DAY:
            break
        span *= 4
    return [found[c] for c in coins if c in found]


def history(
    engine: QueryEngine,
    coin: str,
    start: datetime,
    end: datetime,
    interval: Interval,
    now: datetime,
    raw_lookback_days: int,
    sources: sql.Sources = sql.BEST,
) -> list[HistoryPoint]:
    """OHLC per non-empty bucket over [start, end), oldest first; start/end already validated."""
    check_points(start, end, interval)
    days = (start.date(), (end - timedelta(microseconds=1)).date())
    statement = sql.history(
        coin, _naive(start), _naive(end), interval.seconds, days, engine.dialect, sources
    )
    rows = engine.execute(Query(statement, days, (coin,), _raw_since(now, raw_lookback_days)))
    return [
        HistoryPoint(
            ts=datetime.fromtimestamp(int(bucket), tz=UTC),
            open=o,
            high=h,
            low=low,
            close=c,
            samples=int(n),
            market_cap_usd=cap,
            volume_24h_usd=vol,
            sources=names.split(","),
        )
        for bucket, o, h, low, c, n, cap, vol, names in rows
    ]


def coin_summaries(
    engine: QueryEngine, configured: Sequence[str], now: datetime, raw_lookback_days: int
) -> list[CoinInfo]:
    """Every configured coin (even without data yet) and every other coin in the lake."""
    days = (EARLIEST_DAY, now.date() + ONE_DAY)
    rows = engine.execute(Query(sql.coins(days), days, None, _raw_since(now, raw_lookback_days)))
    spans: dict[str, list[SourceSpan]] = {}
    for coin, source, first, last, n in rows:
        spans.setdefault(coin, []).append(SourceSpan(source, _utc(first), _utc(last), int(n)))
    seen = {
        coin: CoinInfo(
            coin,
            min(s.first_ts for s in held),
            max(s.last_ts for s in held),
            sum(s.rows for s in held),
            held,
        )
        for coin, held in spans.items()
    }
    ordered = [seen.pop(c, CoinInfo(c, None, None, 0, [])) for c in configured]
    return ordered + sorted(seen.values(), key=lambda s: s.coin)


def freshness(
    prices: Sequence[LatestPrice], coins: Sequence[str], now: datetime, stale_after: timedelta
) -> list[CoinHealth]:
    by_coin = {p.coin: p for p in prices}
    result = []
    for coin in coins:
        price = by_coin.get(coin)
        if price is None:
            result.append(CoinHealth(coin, None, None, True))
            continue
        age = (now - price.ts).total_seconds()
        result.append(CoinHealth(coin, price.ts, age, age > stale_after.total_seconds()))
    return result


# -- completeness (docs/heal.md): one query finds where each coin's present slots break ------


def coverage(
    engine: QueryEngine,
    now: datetime,
    raw_lookback_days: int,
    *,
    since: date = EARLIEST_DAY,
    coins: Sequence[str] | None = None,
    step: int = completeness.SLOT_SECONDS,
) -> dict[str, completeness.Coverage]:
    """Each coin's present slots from `since` on (sql.slot_breaks), as completeness.Coverage."""
    days = (since, now.date() + ONE_DAY)
    picked = tuple(coins) if coins else None
    statement = sql.slot_breaks(days, step, picked)
    rows = engine.execute(Query(statement, days, picked, _raw_since(now, raw_lookback_days)))
    return completeness.coverage_from_rows(rows, step)


def _ratio(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def with_completeness(
    infos: Sequence[CoinInfo],
    coverages: Mapping[str, completeness.Coverage],
    now: datetime,
) -> list[CoinInfo]:
    """`/coins` items with completeness over the coin's range and the last 30 days, and gaps."""
    end = completeness.lake_end(coverages.values())
    found = []
    for info in infos:
        cover = coverages.get(info.coin)
        if cover is None or end is None:
            found.append(info)
            continue
        whole = completeness.measure(cover, end)
        recent = completeness.measure(cover, end, within=completeness.last(30, now))
        found.append(
            replace(
                info,
                completeness=_ratio(whole.completeness),
                completeness_30d=_ratio(recent.completeness),
                gaps=len(whole.gaps),
                missing_slots=whole.missing,
            )
        )
    return found


def recent_gaps(
    coverages: Mapping[str, completeness.Coverage],
    coins: Sequence[str],
    now: datetime,
    heal_interval: timedelta,
) -> tuple[dict[str, int], bool]:
    """(gap count per coin over the last 24 hours, whether any of them outlived a heal).

    A gap that ended more than one heal interval ago should have been healed: /health then
    says `degraded` (an unrecoverable slot stays such a gap until it leaves the 24 hours).
    """
    end = completeness.lake_end(coverages.values())
    window = completeness.last(1, now)
    overdue = completeness.seconds(now) - int(heal_interval.total_seconds())
    counts: dict[str, int] = {}
    degraded = False
    for coin in coins:
        cover = coverages.get(coin)
        found = (
            []
            if cover is None or end is None
            else completeness.measure(cover, end, within=window).gaps
        )
        counts[coin] = len(found)
        degraded = degraded or any(gap_end <= overdue for _, gap_end in found)
    return counts, degraded
