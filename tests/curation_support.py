"""Shared arrangements for the curation tests: the fixture lake, its clock, raw lines."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa

from nebulastream.curation.parquet import arrow_dataset
from nebulastream.ingest import JSONL, fetch_spot
from nebulastream.lake.layout import history_key
from nebulastream.lake.storage import LocalLake
from nebulastream.models import Observation, encode_batch
from nebulastream.sources.base import SpotBatch

FIXTURE_LAKE = Path(__file__).parent / "fixtures" / "raw_lake"
# "Now" for the fixture lake: just after its last batch (see fixtures/make_raw_lake.py).
FIXTURE_NOW = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)


def fixture_lake(root: Path) -> LocalLake:
    """A fresh copy of the fixture lake's raw zone at `root`."""
    shutil.copytree(FIXTURE_LAKE, root)
    return LocalLake(root)


def curated_rows(root: Path) -> list[dict[str, Any]]:
    """Every curated row (with dt) as pyarrow reads it, in stored order."""
    table: pa.Table = arrow_dataset(root).to_table()
    return sorted(table.to_pylist(), key=lambda r: (r["dt"], r["coin"], r["ts"], r["source"]))


def raw_line(**fields: Any) -> bytes:
    """One raw line in the fetcher's format; fields override a valid BTC observation."""
    row = {
        "coin": "BTC",
        "source": "coingecko",
        "price_usd": 95000.0,
        "market_cap_usd": 1.9e12,
        "volume_24h_usd": 3.8e10,
        "change_24h_pct": -1.25,
        "observed_at": "2026-11-27T00:00:03.000Z",
        "fetched_at": "2026-11-27T00:00:05.123Z",
        "slot": "2026-11-27T00:00:00.000Z",
        "source_payload": "{}",
    }
    row.update(fields)
    return (json.dumps(row, separators=(",", ":")) + "\n").encode()


def files_under(root: Path, prefix: str) -> dict[str, bytes]:
    """Relative path -> bytes of every file under root/prefix (dot files excluded)."""
    base = root / prefix
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(base.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }


# -- operation sequences on a lake, for the exactly-once properties -------------------------

# Four hours around a midnight, so days, partitions and the lag rule all meet.
OPS_BASE = datetime(2026, 11, 26, 22, 0, tzinfo=UTC)
OPS_NOW = OPS_BASE + timedelta(days=1)  # every run's clock: the rules judge all runs alike
OPS_SLOTS = 48


@dataclass(frozen=True)
class Fetch:
    """One fetch of slot `slot` (a re-fetch when the slot was fetched before).

    Each price is (coin, price, age): the observation is `age` slots old, so a stale price
    repeats an instant an earlier slot already stored (the same coin, ts and source).
    """

    slot: int
    prices: tuple[tuple[str, float, int], ...]


@dataclass(frozen=True)
class Backfill:
    """One backfill window of `coin`: [start, start + hours) in hours after OPS_BASE, with a
    point every 5 minutes at the given offsets (slot indexes within the window)."""

    coin: str
    start: int
    hours: int
    points: tuple[tuple[int, float], ...]


@dataclass(frozen=True)
class Transform:
    """An incremental curation run."""


Op = Fetch | Backfill | Transform


@dataclass
class _Spot:
    name: str
    observations: list[Observation]
    missing: list[str]

    def spot(self, *, fetched_at: datetime, slot: datetime) -> SpotBatch:
        return SpotBatch(self.observations, self.missing)


def apply_ops(lake: LocalLake, ops: Iterable[Op], curate: Callable[[LocalLake], object]) -> None:
    """Carry out `ops` in order: fetches and backfills write raw batches as the real
    fetcher does (fetch_spot; one deterministic key per backfill window), Transform runs
    `curate`. Every write is fetched a second later than the one before it."""
    for index, op in enumerate(ops):
        fetched = OPS_BASE + timedelta(hours=4, seconds=index)
        if isinstance(op, Fetch):
            slot = OPS_BASE + timedelta(minutes=5 * op.slot)
            fetched = slot + timedelta(seconds=5 + index)
            observations = [
                Observation(
                    coin,
                    "coingecko",
                    price,
                    1.0e12,
                    None,
                    None,
                    slot - timedelta(minutes=5 * age) + timedelta(seconds=3),
                    fetched,
                    slot,
                    "{}",
                )
                for coin, price, age in op.prices
            ]
            coins = {coin for coin, _, _ in op.prices}
            missing = sorted({"BTC", "ETH"} - coins)
            fetch_spot(_Spot("coingecko", observations, missing), lake, slot=slot, now=fetched)
        elif isinstance(op, Backfill):
            start = OPS_BASE + timedelta(hours=op.start)
            end = start + timedelta(hours=op.hours)
            points = [
                Observation(
                    op.coin,
                    "coingecko",
                    price,
                    None,
                    2.0e10,
                    None,
                    start + timedelta(minutes=5 * i, seconds=3),
                    fetched,
                    start,
                    "{}",
                )
                for i, price in op.points
            ]
            lake.put(history_key("coingecko", op.coin, start, end), encode_batch(points), JSONL)
        else:
            curate(lake)


def raw_copy(root: Path, target: Path) -> LocalLake:
    """A new lake holding only `root`'s raw zone (for a --full run to compare with)."""
    if (root / "raw").exists():
        shutil.copytree(root / "raw", target / "raw")
    return LocalLake(target)
