"""Where things live in the lake. Every key is derived here and nowhere else.

    raw/dt=2026-11-28/coingecko-spot-20261128T0405Z.jsonl       one scheduled fetch (slot)
    raw/dt=2026-11-27/coingecko-history-BTC-20261127T0000Z-20261128T0000Z.jsonl
                                                                 one backfill window (points)
    raw/dt=2026-11-27/coinbase-candles-BTC-20261127T0000Z-20261128T0000Z.jsonl
                                                                 one backfill window (candles)
    curated/dt=2026-11-28/prices.parquet                             one file per curated day
    quarantine/dt=2026-11-28/coingecko-spot-20261128T0405Z.jsonl     rejected rows of that batch
    reports/curation-20261128T041002.123Z-duckdb.json                one report per curation run
    reports/_state/manifest.json                                     raw batches already curated
    reports/_state/lease.json                                        the one curation writer (S3)
    alerts/state.json                                                alert rules' state, pending
    alerts/history/dt=2026-11-28/btc-high-20261128T040312000Z.json   one alert firing
    reports/_state/raw_bound.json                                    how far raw/ is curated (API)
    reports/_state/unrecoverable.json                                slots no source can fill (heal)
    reports/_state/coverage.json                                     recent present slots (heal)

Keys are deterministic: the same slot (or backfill window) always maps to the same key,
so a retried or duplicated run overwrites its batch instead of adding one.
"""

from __future__ import annotations

from datetime import UTC, datetime

from nebulastream.timeutil import compact

RAW = "raw/"
CURATED = "curated/"
QUARANTINE = "quarantine/"
REPORTS = "reports/"
ALERTS = "alerts/"
ALERT_STATE = f"{ALERTS}state.json"
ALERT_HISTORY = f"{ALERTS}history/"


def dt_partition(moment: datetime) -> str:
    return f"dt={moment.strftime('%Y-%m-%d')}"


def spot_key(source: str, slot: datetime) -> str:
    """The raw batch of one scheduled fetch: one per (source, slot)."""
    return f"{RAW}{dt_partition(slot)}/{source}-spot-{compact(slot)}.jsonl"


# A spot batch's key as a SQL LIKE pattern (curation keeps one row per coin in each).
SPOT_KEY_LIKE = "%-spot-%.jsonl"


def history_key(source: str, coin: str, start: datetime, end: datetime) -> str:
    """The raw batch of one backfill window of points: one per (source, coin, window)."""
    return window_key(source, "history", coin, start, end)


def candles_key(source: str, coin: str, start: datetime, end: datetime) -> str:
    """The raw batch of one backfill window of candles: one per (source, coin, window)."""
    return window_key(source, "candles", coin, start, end)


WINDOW_KINDS = ("history", "candles")


def window_key(source: str, kind: str, coin: str, start: datetime, end: datetime) -> str:
    """`raw/dt=<start day>/<source>-<kind>-<coin>-<start>-<end>.jsonl` for a backfill window."""
    if kind not in WINDOW_KINDS:
        raise ValueError(f"{kind!r} is not a window kind ({', '.join(WINDOW_KINDS)})")
    return (
        f"{RAW}{dt_partition(start)}/{source}-{kind}-{coin}-{compact(start)}-{compact(end)}.jsonl"
    )


STAGING = f"{CURATED}_staging/"  # Spark's scratch output; `_` hides it from Spark, Hive and Athena
MANIFEST = f"{REPORTS}_state/manifest.json"
LEASE = f"{REPORTS}_state/lease.json"  # S3; a local lake locks reports/_state/curation.lock
LOCK_FILE = f"{REPORTS}_state/curation.lock"
RAW_BOUND = f"{REPORTS}_state/raw_bound.json"  # lake/bound.py: what API queries skip of raw/
UNRECOVERABLE = f"{REPORTS}_state/unrecoverable.json"  # heal.py: slots no source can fill
COVERAGE = f"{REPORTS}_state/coverage.json"  # completeness.py: recent slots, for the heal function


def raw_partition(key: str) -> str | None:
    """The day ('2026-11-28') of a raw batch key's dt= partition, or None if it has none."""
    parts = key.split("/")
    if len(parts) == 3 and parts[0] + "/" == RAW and parts[1].startswith("dt="):
        return parts[1][len("dt=") :]
    return None


def curated_key(day: str) -> str:
    """The single Parquet file of one curated day ('2026-11-28'); rewritten whole, atomically."""
    return f"{CURATED}dt={day}/prices.parquet"


def curated_day(key: str) -> str | None:
    """The day of a curated file key, or None for anything else under curated/."""
    parts = key.split("/")
    if len(parts) == 3 and parts[0] + "/" == CURATED and parts[1].startswith("dt="):
        return parts[1][len("dt=") :]
    return None


def quarantine_key(raw_key: str) -> str:
    """Rejected rows of one raw batch, mirroring its key: reprocessing rewrites, never adds."""
    if not raw_key.startswith(RAW):
        raise ValueError(f"{raw_key!r} is not a raw batch key (it must start with {RAW!r})")
    return QUARANTINE + raw_key[len(RAW) :]


def report_key(started: datetime, runner: str) -> str:
    """One data-quality report per curation run, named by its start and its runner."""
    # Milliseconds, like every instant NebulaStream writes (timeutil.iso_z), so the key is the
    # same whether it is derived from the run's clock or from the report's `started_at`.
    started = started.astimezone(UTC)
    stamp = f"{started:%Y%m%dT%H%M%S}.{started.microsecond // 1000:03d}Z"
    return f"{REPORTS}curation-{stamp}-{runner}.json"


def alert_history_key(fired_at: datetime, firing_id: str) -> str:
    """One firing's record, in the folder of the UTC day it fired (history?since= lists days)."""
    return f"{ALERT_HISTORY}{dt_partition(fired_at.astimezone(UTC))}/{firing_id}.json"
