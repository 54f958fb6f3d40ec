"""The one list of sources: registry name -> how to build it, what it serves, its limits and terms.

Adding a source is one module under nebulastream/sources/ and one line in REGISTRY; its base
URL comes from the setting `NEBULA_<NAME>_BASE_URL`. Edges (the CLI, the fetch handler) build
sources only through `build`, so nothing else names a source.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any

from nebulastream.sources import bitstamp, coinbase, coingecko
from nebulastream.sources.http import build_client

if TYPE_CHECKING:  # clients are built by http.build_client, which imports httpx
    import httpx


@dataclass(frozen=True)
class SourceOptions:
    """What the edge knows (settings, a transport for tests) that a source needs to be built."""

    base_url: str
    coin_ids: Mapping[str, str] = field(default_factory=dict)  # CoinGecko's symbol -> id
    api_key: str | None = None
    deadline: float = 40.0
    transport: httpx.BaseTransport | None = None
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic


@dataclass(frozen=True)
class SourceSpec:
    """One registry entry. `build` returns an object with `name`, `symbols`, `client` and
    `spot` and/or `history` (sources.base protocols)."""

    name: str
    title: str
    default_base_url: str
    build: Callable[[SourceOptions], Any]
    spot: bool  # serves the current prices (the scheduled fetch)
    past_five_minute: bool  # serves 5-minute data for any past day (backfill, heal)
    window_kind: str  # raw key kind of its backfill windows: "history" (points) or "candles"
    per_request: str  # the upstream's limit per request, in words
    rate_per_second: float  # the client-side limit this process keeps to
    terms: str  # attribution and terms the data comes with
    symbols: Callable[[SourceOptions], Mapping[str, str]]  # symbol -> the source's own id


def _coingecko(options: SourceOptions) -> coingecko.CoinGecko:
    return coingecko.CoinGecko(
        coingecko.build_client(options.base_url, options.api_key, transport=options.transport),
        options.coin_ids,
        deadline=options.deadline,
        has_key=bool(options.api_key),
        rate=coingecko.RATE_PER_SECOND,
        sleep=options.sleep,
        clock=options.clock,
    )


def candle_source(module: ModuleType) -> SourceSpec:
    """The entry of an exchange candle module, read from its constants: SOURCE, TITLE,
    DEFAULT_BASE_URL, SYMBOLS, SPAN_SECONDS, MAX_CANDLES, RATE_PER_SECOND, TERMS and
    CandleSource (a HistorySource class taking a client, deadline, sleep and clock)."""

    def build(options: SourceOptions) -> Any:
        return module.CandleSource(
            build_client(options.base_url, transport=options.transport),
            deadline=options.deadline,
            sleep=options.sleep,
            clock=options.clock,
        )

    return SourceSpec(
        name=module.SOURCE,
        title=module.TITLE,
        default_base_url=module.DEFAULT_BASE_URL,
        build=build,
        spot=False,
        past_five_minute=True,
        window_kind="candles",
        per_request=f"{module.MAX_CANDLES} candles of {module.SPAN_SECONDS} s a request",
        rate_per_second=module.RATE_PER_SECOND,
        terms=module.TERMS,
        symbols=lambda options: dict(module.SYMBOLS),
    )


REGISTRY: dict[str, SourceSpec] = {
    spec.name: spec
    for spec in (
        SourceSpec(
            name=coingecko.SOURCE,
            title=coingecko.TITLE,
            default_base_url=coingecko.DEFAULT_BASE_URL,
            build=_coingecko,
            spot=True,
            past_five_minute=False,
            window_kind="history",
            per_request="all coins in one spot call; history: 5-minute points for the last day, "
            "hourly or daily before, 365 days back on the Demo plan",
            rate_per_second=coingecko.RATE_PER_SECOND,
            terms=coingecko.TERMS,
            symbols=lambda options: dict(options.coin_ids),
        ),
        candle_source(coinbase),
        candle_source(bitstamp),
    )
}


class UnknownSourceError(ValueError):
    """A name that is not in the registry; the message lists the known ones."""

    def __init__(self, name: str) -> None:
        super().__init__(f"unknown source {name!r}; known sources: {', '.join(REGISTRY)}.")


def spec(name: str) -> SourceSpec:
    """The registry entry called `name` (case-insensitive), or UnknownSourceError."""
    try:
        return REGISTRY[name.strip().lower()]
    except KeyError:
        raise UnknownSourceError(name) from None


def build(name: str, options: SourceOptions) -> Any:
    """The source called `name`, built with `options`."""
    return spec(name).build(options)


def first(priority: Sequence[str], predicate: Callable[[SourceSpec], bool]) -> SourceSpec:
    """The first source in `priority` (then in registry order) that satisfies `predicate`."""
    ordered = [spec(n) for n in priority] + list(REGISTRY.values())
    for candidate in ordered:
        if predicate(candidate):
            return candidate
    raise LookupError("no registered source serves this")  # pragma: no cover - registry is fixed


def default_spot(priority: Sequence[str]) -> SourceSpec:
    """The source the scheduled fetch reads: the first in priority that serves spot prices."""
    return first(priority, lambda s: s.spot)


def default_backfill(priority: Sequence[str]) -> SourceSpec:
    """The source backfill reads by default: the first that serves past 5-minute data."""
    return first(priority, lambda s: s.past_five_minute)


def split_listed(symbols: Sequence[str], listed: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """(the symbols the source lists, the ones it does not), each in the given order."""
    return [s for s in symbols if s in listed], [s for s in symbols if s not in listed]
