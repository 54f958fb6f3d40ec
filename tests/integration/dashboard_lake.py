"""A lake for the dashboard tests: curated Parquet history, fresh raw fetches, a gap, a stale coin.

Shape, relative to the moment it is built (`now`):

* curated/  hourly rows for BTC, ETH and SOL from 400 days ago up to RAW_HOURS ago, written as
  the curation job writes them (tests/lake_fixtures.py: schema.CURATED_COLUMNS, dt=...).
* raw/      one spot batch per 5-minute slot for the last RAW_HOURS, in the real raw format
  (Observation -> encode_batch -> spot_key), except for GAP: no batch at all (fetcher down).
* SOL       is left out of the batches of the last STALE_HOURS (the source stopped sending it),
  so its newest price is STALE_HOURS old.
* DOGE      is configured for the server but has no rows at all.

Prices are seeded random walks, so every run sees the same shape at a different time.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from nebulastream.timeutil import floor_to
from tests import lake_fixtures

SLOT = timedelta(minutes=5)
RAW_HOURS = 36
HISTORY_DAYS = 400
GAP = (timedelta(hours=8), timedelta(hours=6))  # no batches between 8 h and 6 h ago
STALE_HOURS = 3
# Seconds CoinGecko's last_updated_at lags behind the fetch slot.
LAG = timedelta(seconds=40)
START_PRICE = {"BTC": 61_000.0, "ETH": 3_100.0, "SOL": 140.0}
WITH_DATA = tuple(START_PRICE)
CONFIGURED = (*WITH_DATA, "DOGE")


@dataclass(frozen=True)
class Row:
    coin: str
    ts: datetime
    price: float
    change_24h_pct: float | None


@dataclass
class FixtureLake:
    root: Path
    now: datetime
    rows: dict[str, list[Row]] = field(default_factory=dict)

    def latest(self, coin: str) -> Row | None:
        rows = self.rows.get(coin)
        return rows[-1] if rows else None

    def buckets(self, coin: str, start: datetime, end: datetime, step: timedelta) -> list[int]:
        """The non-empty buckets' starts (Unix seconds) of [start, end), as the API buckets them."""
        seconds = int(step.total_seconds())
        found = {
            int(r.ts.timestamp()) // seconds * seconds
            for r in self.rows.get(coin, [])
            if start <= r.ts < end
        }
        return sorted(found)

    def refetch(self, slot: datetime, prices: dict[str, float], observed_at: datetime) -> None:
        """Store another fetch of `slot` (same deterministic key: it replaces the batch)."""
        keep = [r for rows in self.rows.values() for r in rows if _slot_of(r) == slot]
        replaced = {coin: Row(coin, observed_at, p, 1.5) for coin, p in prices.items()}
        batch = [r for r in keep if r.coin not in replaced] + list(replaced.values())
        for coin, row in replaced.items():
            self.rows[coin] = [r for r in self.rows[coin] if _slot_of(r) != slot] + [row]
        _put_raw(self.root, slot, batch, fetched_at=observed_at + LAG / 2)


def _slot_of(row: Row) -> datetime:
    return floor_to(row.ts + LAG, int(SLOT.total_seconds()))


def build(root: Path, now: datetime) -> FixtureLake:
    lake = FixtureLake(root=root, now=now)
    last_slot = floor_to(now, int(SLOT.total_seconds()))
    raw_start = last_slot - timedelta(hours=RAW_HOURS)
    history_start = floor_to(last_slot - timedelta(days=HISTORY_DAYS), 3600)

    hourly = _times(history_start, raw_start, timedelta(hours=1))
    gap_from, gap_to = last_slot - GAP[0], last_slot - GAP[1]
    slots = [s for s in _times(raw_start, last_slot + SLOT, SLOT) if not gap_from < s <= gap_to]

    for coin in WITH_DATA:
        walk = _walk(coin, [*hourly, *(s - LAG for s in slots)])
        if coin == "SOL":
            cutoff = last_slot - timedelta(hours=STALE_HOURS)
            walk = [r for r in walk if r.ts < cutoff]
        lake.rows[coin] = walk

    # Curation has covered everything before the raw look-back; the rest is still raw.
    every = [r for rows in lake.rows.values() for r in rows]
    _write_curated(root, [r for r in every if r.ts < raw_start - LAG])
    recent = [r for r in every if r.ts >= raw_start - LAG]
    by_slot: dict[datetime, list[Row]] = {}
    for row in recent:
        by_slot.setdefault(_slot_of(row), []).append(row)
    for slot, batch in sorted(by_slot.items()):
        _put_raw(root, slot, batch, fetched_at=slot + timedelta(seconds=2))
    return lake


def _times(start: datetime, end: datetime, step: timedelta) -> list[datetime]:
    count = math.ceil((end - start) / step)
    return [start + i * step for i in range(count)]


def _walk(coin: str, times: Iterable[datetime]) -> list[Row]:
    rng = random.Random(coin)
    price = START_PRICE[coin]
    rows: list[Row] = []
    history: list[tuple[datetime, float]] = []
    previous: datetime | None = None
    for ts in times:
        if previous is not None:
            hours = (ts - previous).total_seconds() / 3600
            # A gentle upward drift with hourly volatility of ~0.6 %.
            price *= math.exp(rng.gauss(0.00002 * hours, 0.006 * math.sqrt(hours)))
        history.append((ts, price))
        day_ago = next((p for t, p in reversed(history) if t <= ts - timedelta(hours=24)), None)
        change = None if day_ago is None else round((price / day_ago - 1) * 100, 4)
        rows.append(Row(coin, ts, round(price, 2 if price > 100 else 4), change))
        previous = ts
        if len(history) > 400:  # keep the look-back cheap: 24 h of 5-minute rows is 288
            del history[:100]
    return rows


def _put_raw(root: Path, slot: datetime, rows: list[Row], fetched_at: datetime) -> None:
    batch = [
        lake_fixtures.observation(
            r.coin,
            r.ts,
            r.price,
            fetched_at=fetched_at,
            slot=slot,
            market_cap=r.price * 19_000_000,
            volume=r.price * 450_000,
            change=r.change_24h_pct,
        )
        for r in sorted(rows, key=lambda r: r.coin)
    ]
    lake_fixtures.write_spot(root, slot, batch)


def _write_curated(root: Path, rows: list[Row]) -> None:
    lake_fixtures.write_curated(
        root,
        (
            lake_fixtures.Row(
                r.coin,
                r.ts,
                r.price,
                market_cap_usd=r.price * 19_000_000,
                volume_24h_usd=r.price * 450_000,
                change_24h_pct=r.change_24h_pct,
            )
            for r in rows
        ),
    )
