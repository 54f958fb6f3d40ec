"""Ingestion: one scheduled fetch into its slot's raw batch, and chunked, resumable backfill."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from nebulastream.lake.layout import spot_key, window_key
from nebulastream.lake.storage import LakeStorage
from nebulastream.models import Observation, encode_batch
from nebulastream.sources.base import HistorySource, SourceError, SpotSource
from nebulastream.timeutil import day_windows, parse_time

log = logging.getLogger(__name__)

JSONL = "application/x-ndjson"


class NothingStoredError(SourceError):
    """The source answered but none of the configured coins was in the answer."""


@dataclass(frozen=True)
class FetchResult:
    slot: datetime
    key: str
    observations: list[Observation]
    missing: list[str]
    attempts: int
    # Coins this answer left out whose earlier line for the same slot was kept.
    kept: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        return {
            "slot": self.slot.isoformat().replace("+00:00", "Z"),
            "key": self.key,
            "stored": [o.coin for o in self.observations],
            "missing": self.missing,
            "kept_from_earlier_fetch": self.kept,
            "suspect": {o.coin: o.problems() for o in self.observations if o.problems()},
            "attempts": self.attempts,
        }


def fetch_spot(
    source: SpotSource, lake: LakeStorage, *, slot: datetime, now: datetime
) -> FetchResult:
    """Fetch current prices once and write the slot's batch (replacing a retried slot's).

    A re-run in the same slot replaces the batch with the newer answer, but a coin that answer
    left out keeps its line from the earlier fetch: a retry never loses data.
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
    kept = _earlier_lines(lake, key, set(batch.missing))
    data = encode_batch(batch.observations) + b"".join(line + b"\n" for _, line in kept)
    lake.put(key, data, JSONL)
    return FetchResult(
        slot, key, batch.observations, batch.missing, batch.attempts, [coin for coin, _ in kept]
    )


def _earlier_lines(lake: LakeStorage, key: str, coins: set[str]) -> list[tuple[str, bytes]]:
    """The lines of the batch already at `key` for the given coins, in stored order."""
    if not coins or not lake.exists(key):
        return []
    kept = []
    for line in lake.get(key).splitlines():
        try:
            coin = json.loads(line).get("coin")
        except (ValueError, AttributeError, RecursionError):
            continue  # not a line this code wrote; curation quarantines such lines anyway
        if coin in coins:
            kept.append((coin, line))
    return kept


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
    source_name: str,
    coins: Sequence[str],
    start: datetime,
    end: datetime,
    *,
    kind: str = "history",
) -> list[Window]:
    """Windows of at most one UTC day per coin, each with its deterministic raw key.

    A day suits every source: CoinGecko serves its finest grid for one day, and a day of
    5-minute candles (288) fits one Coinbase (300) or Bitstamp (1000) request. `kind` is
    "history" for points and "candles" for exchange candles (layout.window_key).
    """
    return [
        Window(coin, lo, hi, window_key(source_name, kind, coin, lo, hi))
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

    A window that ended before now and was stored by a fetch made after it ended is skipped,
    so an interrupted backfill re-run continues where it stopped and a repeated one stores
    nothing twice. A window stored while it was still running (today's, yesterday) is fetched
    again: it has grown since.
    `on_window(window, points)` reports progress (points is None for a skipped window).
    """
    result = BackfillResult()
    for window in windows:
        fetched_at = now()
        if window.end <= fetched_at and _stored_complete(lake, window):
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


def _stored_complete(lake: LakeStorage, window: Window) -> bool:
    """True when the window's batch exists and was fetched at or after the window's end."""
    if not lake.exists(window.key):
        return False
    first = lake.get(window.key).split(b"\n", 1)[0]
    try:
        fetched_at = parse_time(json.loads(first)["fetched_at"])
    except (ValueError, KeyError, TypeError, RecursionError):  # TimeFormatError is a ValueError
        return False  # unreadable: fetching again rewrites it whole
    return fetched_at >= window.end
