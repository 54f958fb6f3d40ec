"""Ingestion: one scheduled fetch into its slot's raw batch, and chunked, resumable backfill."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from nebulastream.lake.layout import history_key, spot_key
from nebulastream.lake.storage import LakeStorage
from nebulastream.models import Observation, encode_batch
from nebulastream.sources.base import SourceError, SpotBatch
from nebulastream.timeutil import day_windows

log = logging.getLogger(__name__)

JSONL = "application/x-ndjson"


class SpotSource(Protocol):
    name: str

    def spot(self, *, fetched_at: datetime, slot: datetime) -> SpotBatch: ...


class HistorySource(Protocol):
    name: str

    def history(
        self, symbol: str, start: datetime, end: datetime, *, fetched_at: datetime
    ) -> list[Observation]: ...


class NothingStoredError(SourceError):
    """The source answered but none of the configured coins was in the answer."""


@dataclass(frozen=True)
class FetchResult:
    slot: datetime
    key: str
    observations: list[Observation]
    missing: list[str]
    attempts: int

    def summary(self) -> dict[str, object]:
        return {
            "slot": self.slot.isoformat().replace("+00:00", "Z"),
            "key": self.key,
            "stored": [o.coin for o in self.observations],
            "missing": self.missing,
            "suspect": {o.coin: o.problems() for o in self.observations if o.problems()},
            "attempts": self.attempts,
        }


def fetch_spot(
    source: SpotSource, lake: LakeStorage, *, slot: datetime, now: datetime
) -> FetchResult:
    """Fetch current prices once and write the slot's batch (overwriting a retried slot).

    Raises SourceError when the source fails after retries or returns none of the coins;
    nothing is written then.
    """
    batch = source.spot(fetched_at=now, slot=slot)
    if not batch.observations:
        raise NothingStoredError(
            f"{source.name} answered without any of the configured coins "
            f"({', '.join(batch.missing)}); "
            "check NEBULA_COINS and NEBULA_COIN_IDS. Nothing was stored."
        )
    key = spot_key(source.name, slot)
    lake.put(key, encode_batch(batch.observations), JSONL)
    return FetchResult(slot, key, batch.observations, batch.missing, batch.attempts)


@dataclass(frozen=True)
class Window:
    coin: str
    start: datetime
    end: datetime
    key: str


@dataclass
class BackfillResult:
    stored: dict[str, int] = field(default_factory=dict)  # key -> points written
    skipped: list[str] = field(default_factory=list)  # complete windows already in the lake

    @property
    def points(self) -> int:
        return sum(self.stored.values())


def plan_backfill(
    source_name: str, coins: Sequence[str], start: datetime, end: datetime
) -> list[Window]:
    """Windows of at most one UTC day per coin, so CoinGecko serves its finest grid."""
    return [
        Window(coin, lo, hi, history_key(source_name, coin, lo, hi))
        for coin in coins
        for lo, hi in day_windows(start, end)
    ]


def backfill(
    source: HistorySource,
    lake: LakeStorage,
    windows: Sequence[Window],
    *,
    now: Callable[[], datetime],
    on_window: Callable[[Window, int | None], None] = lambda window, points: None,
) -> BackfillResult:
    """Fetch each window into its own deterministic key; resumable and idempotent.

    A window that is complete (ended before now) and already stored is skipped, so an
    interrupted backfill re-run continues where it stopped and a repeated one stores
    nothing twice. A window reaching into the future is fetched again: it may have grown.
    `on_window(window, points)` reports progress (points is None for a skipped window).
    """
    result = BackfillResult()
    for window in windows:
        fetched_at = now()
        if window.end <= fetched_at and lake.exists(window.key):
            result.skipped.append(window.key)
            on_window(window, None)
            continue
        observations = source.history(window.coin, window.start, window.end, fetched_at=fetched_at)
        if observations:
            lake.put(window.key, encode_batch(observations), JSONL)
            result.stored[window.key] = len(observations)
        else:
            log.warning(
                "%s served no points for %s in [%s, %s)",
                source.name,
                window.coin,
                window.start,
                window.end,
            )
        on_window(window, len(observations))
    return result
