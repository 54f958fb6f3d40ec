"""The lake docs/analysis.md is tested on: what a week's backfill plus `make run` leave behind.

Built relative to the real clock (the recipes say "the last 7 days", as a user would):

    the 9 UTC days before today    hourly backfill windows for BTC, ETH and SOL (24 points a day)
    the last 3 hours               5-minute spot batches for the three coins (one slot skipped),
                                   one of them with a negative ETH price (curation quarantines it)

Nothing is curated: the recipes start with `nebula transform`, as a user's first step would.
Prices are a deterministic wave per coin, so every recipe's numbers are reproducible.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

from nebulastream.lake.layout import history_key, spot_key
from nebulastream.lake.storage import LocalLake
from nebulastream.models import Observation, encode_batch
from nebulastream.timeutil import floor_to

BASE = {"BTC": 95000.0, "ETH": 3400.0, "SOL": 140.0}
HISTORY_DAYS = 9
SPOT_HOURS = 3


def price(coin: str, moment: datetime) -> float:
    hours = moment.timestamp() / 3600
    wave = 0.03 * math.sin(hours / 7 + len(coin)) + 0.01 * math.sin(hours / 1.3)
    return round(BASE[coin] * (1 + wave), 2)


def _observation(
    coin: str, observed: datetime, fetched: datetime, slot: datetime, value: float
) -> Observation:
    return Observation(
        coin=coin,
        source="coingecko",
        price_usd=value,
        market_cap_usd=round(value * 2e7, 2),
        volume_24h_usd=round(value * 4e5, 2),
        change_24h_pct=round(math.sin(observed.timestamp() / 5000), 3),
        observed_at=observed,
        fetched_at=fetched,
        slot=slot,
        source_payload=json.dumps({"usd": value}),
    )


def build(root: Path, now: datetime) -> Path:
    lake = LocalLake(root)
    today = floor_to(now, 86400)
    for back in range(HISTORY_DAYS, 0, -1):
        start = today - timedelta(days=back)
        end = start + timedelta(days=1)
        for coin in BASE:
            points = [
                _observation(coin, at, min(end + timedelta(minutes=1), now), start, price(coin, at))
                for hour in range(24)
                for at in (start + timedelta(hours=hour, milliseconds=412),)
            ]
            lake.put(history_key("coingecko", coin, start, end), encode_batch(points), "jsonl")
    last_slot = floor_to(now, 300) - timedelta(minutes=5)
    slots = [last_slot - timedelta(minutes=5 * i) for i in range(SPOT_HOURS * 12)]
    for number, slot in enumerate(sorted(slots)):
        if number == 7:
            continue  # a missed fetch: a gap, as real lakes have
        batch = []
        for coin in BASE:
            value = price(coin, slot)
            if number == 11 and coin == "ETH":
                value = -value  # rejected by price_finite_positive
            observed = slot + timedelta(seconds=3)
            batch.append(_observation(coin, observed, slot + timedelta(seconds=5), slot, value))
        lake.put(spot_key("coingecko", slot), encode_batch(batch), "jsonl")
    return root


def now_utc() -> datetime:
    return datetime.now(UTC)
