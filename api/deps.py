"""Dependencies: settings, the query engine and the clock, as `Annotated` aliases.

Tests replace them with `app.dependency_overrides[get_engine] = ...`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated

from fastapi import Depends, Request, Response
from pydantic import BaseModel

from api.headers import answer, until_next_slot
from nebulastream.completeness import Coverage
from nebulastream.edge import make_engine
from nebulastream.query import EngineError, QueryEngine, service
from nebulastream.query.service import QueryInputError
from nebulastream.query.sql import Sources
from nebulastream.settings import Settings, get_settings
from nebulastream.timeutil import EARLIEST_DAY, utcnow

_engine_lock = threading.Lock()


def get_engine(
    request: Request, settings: Annotated[Settings, Depends(get_settings)]
) -> QueryEngine:
    """One engine per app, built on first use (the Lambda container keeps it warm)."""
    engine: QueryEngine | None = getattr(request.app.state, "engine", None)
    if engine is None:
        with _engine_lock:
            engine = getattr(request.app.state, "engine", None)
            if engine is None:
                try:
                    engine = make_engine(settings)
                except Exception as error:  # settings or AWS set-up: the log says which
                    raise EngineError(f"could not build the query engine: {error}") from error
                request.app.state.engine = engine
    return engine


async def single_valued_query(request: Request) -> None:
    """A parameter given twice is a 400: FastAPI would silently keep only the last one.

    One pass over the pairs (RequestGuard caps how many there are). async: it does no I/O, so
    it runs on the event loop instead of costing a thread hop.
    """
    if (name := first_repeated(request.query_params.multi_items())) is not None:
        hint = " (for several coins: coin=BTC,ETH)" if name == "coin" else ""
        raise QueryInputError(name, f"{name} is given more than once: give it once{hint}.")


def first_repeated(pairs: Iterable[tuple[str, str]]) -> str | None:
    """The first name seen a second time, in one pass over (name, value) pairs."""
    seen: set[str] = set()
    for name, _ in pairs:
        if name in seen:
            return name
        seen.add(name)
    return None


def get_clock() -> datetime:
    return utcnow()


SettingsDep = Annotated[Settings, Depends(get_settings)]
EngineDep = Annotated[QueryEngine, Depends(get_engine)]
NowDep = Annotated[datetime, Depends(get_clock)]


@dataclass(frozen=True)
class Lake:
    """What every data route works with: the settings, the engine and this request's clock,
    with the query service's calls bound to them and the one way to answer."""

    settings: Settings
    engine: QueryEngine
    now: datetime

    def sources(self, value: str | None) -> Sources:
        """`best` (ranked by NEBULA_SOURCE_PRIORITY) or one source's rows."""
        return service.parse_source(value, self.settings.ranked_sources)

    def latest(
        self, coins: Sequence[str], sources: Sources | None = None
    ) -> list[service.LatestPrice]:
        lookback = self.settings.raw_lookback_days
        picked = sources or self.sources(None)
        return service.latest(self.engine, coins, self.now, lookback, picked)

    def history(
        self,
        coin: str,
        start: datetime,
        end: datetime,
        interval: service.Interval,
        sources: Sources,
    ) -> list[service.HistoryPoint]:
        lookback = self.settings.raw_lookback_days
        return service.history(self.engine, coin, start, end, interval, self.now, lookback, sources)

    def coins(self) -> list[service.CoinInfo]:
        configured = self.settings.coins
        return service.coin_summaries(
            self.engine, configured, self.now, self.settings.raw_lookback_days
        )

    def coverage(self, since: date = EARLIEST_DAY) -> dict[str, Coverage]:
        """Each coin's present 5-minute slots from `since` on (completeness, gaps)."""
        return service.coverage(self.engine, self.now, self.settings.raw_lookback_days, since=since)

    def answer(self, body: BaseModel, cache_control: str | None = None) -> Response:
        """The model as JSON; by default cacheable until the next fetch slot."""
        interval = self.settings.fetch_interval_seconds
        return answer(body, cache_control or until_next_slot(self.now, interval))


def get_lake(settings: SettingsDep, engine: EngineDep, now: NowDep) -> Lake:
    return Lake(settings, engine, now)


LakeDep = Annotated[Lake, Depends(get_lake)]
