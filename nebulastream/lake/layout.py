"""Where things live in the lake. Every key is derived here and nowhere else.

    raw/dt=2026-11-28/coingecko-spot-20261128T0405Z.jsonl       one scheduled fetch (slot)
    raw/dt=2026-11-27/coingecko-history-BTC-20261127T0000Z-20261128T0000Z.jsonl
                                                                 one backfill window
    curated/dt=2026-11-28/...parquet                                 curated partitions
    quarantine/...  reports/...                                      curation outputs

Keys are deterministic: the same slot (or backfill window) always maps to the same key,
so a retried or duplicated run overwrites its batch instead of adding one.
"""

from __future__ import annotations

from datetime import datetime

from nebulastream.timeutil import compact

RAW = "raw/"
CURATED = "curated/"
QUARANTINE = "quarantine/"
REPORTS = "reports/"


def dt_partition(moment: datetime) -> str:
    return f"dt={moment.strftime('%Y-%m-%d')}"


def spot_key(source: str, slot: datetime) -> str:
    """The raw batch of one scheduled fetch: one per (source, slot)."""
    return f"{RAW}{dt_partition(slot)}/{source}-spot-{compact(slot)}.jsonl"


def history_key(source: str, coin: str, start: datetime, end: datetime) -> str:
    """The raw batch of one backfill window: one per (source, coin, window)."""
    return (
        f"{RAW}{dt_partition(start)}/{source}-history-{coin}-{compact(start)}-{compact(end)}.jsonl"
    )
