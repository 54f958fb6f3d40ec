"""Builders for real lake files in tests: curated Parquet per schema.py, raw batches per layout."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from nebulastream.ingest import JSONL
from nebulastream.lake.layout import CURATED, spot_key
from nebulastream.lake.storage import LocalLake
from nebulastream.models import Observation, encode_batch
from nebulastream.schema import CURATED_COLUMNS, PARTITION_COLUMN

_ARROW = {
    "string": pa.string(),
    "double": pa.float64(),
    "bigint": pa.int64(),
    "timestamp": pa.timestamp("us"),
}
# Naive microsecond timestamps holding UTC: Parquet TIMESTAMP(MICROS), isAdjustedToUTC=false.
CURATED_SCHEMA = pa.schema([(name, _ARROW[kind]) for name, kind in CURATED_COLUMNS.items()])


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


@dataclass(frozen=True)
class Row:
    """One curated row; times are aware UTC."""

    coin: str
    ts: datetime
    price_usd: float
    market_cap_usd: float | None = 1.0e12
    volume_24h_usd: float | None = 3.0e10
    change_24h_pct: float | None = -1.5
    source: str = "coingecko"
    fetched_at: datetime | None = None
    open_usd: float | None = None  # candles: open, high, low, span 300, USD volume
    high_usd: float | None = None
    low_usd: float | None = None
    span_seconds: int = 0
    volume_usd: float | None = None

    def as_dict(self) -> dict[str, object]:
        fetched = self.fetched_at or self.ts
        return {
            "coin": self.coin,
            "ts": self.ts.astimezone(UTC).replace(tzinfo=None),
            "price_usd": self.price_usd,
            "market_cap_usd": self.market_cap_usd,
            "volume_24h_usd": self.volume_24h_usd,
            "change_24h_pct": self.change_24h_pct,
            "source": self.source,
            "fetched_at": fetched.astimezone(UTC).replace(tzinfo=None),
            "open_usd": self.open_usd,
            "high_usd": self.high_usd,
            "low_usd": self.low_usd,
            "span_seconds": self.span_seconds,
            "volume_usd": self.volume_usd,
        }


def write_curated(root: Path, rows: Iterable[Row], name: str = "part-0.parquet") -> list[Path]:
    """One Parquet file per UTC day of `ts` under curated/dt=YYYY-MM-DD/, sorted by coin, ts."""
    by_day: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        by_day[row.ts.astimezone(UTC).strftime("%Y-%m-%d")].append(row)
    written = []
    for day, day_rows in sorted(by_day.items()):
        folder = root / CURATED / f"{PARTITION_COLUMN}={day}"
        folder.mkdir(parents=True, exist_ok=True)
        ordered = sorted(day_rows, key=lambda r: (r.coin, r.ts))
        table = pa.Table.from_pylist([r.as_dict() for r in ordered], schema=CURATED_SCHEMA)
        path = folder / name
        pq.write_table(table, path)
        written.append(path)
    return written


def observation(
    coin: str,
    observed_at: datetime | None,
    price: float | None,
    *,
    fetched_at: datetime,
    slot: datetime | None = None,
    market_cap: float | None = 1.0e12,
    volume: float | None = 3.0e10,
    change: float | None = -1.5,
) -> Observation:
    payload = {"usd": price, "usd_market_cap": market_cap, "usd_24h_vol": volume}
    return Observation(
        coin=coin,
        source="coingecko",
        price_usd=price,
        market_cap_usd=market_cap,
        volume_24h_usd=volume,
        change_24h_pct=change,
        observed_at=observed_at,
        fetched_at=fetched_at,
        slot=slot or fetched_at,
        source_payload=json.dumps(payload),
    )


def write_spot(root: Path, slot: datetime, observations: list[Observation]) -> str:
    """A scheduled fetch's raw batch, written as `nebula fetch` writes it."""
    key = spot_key("coingecko", slot)
    LocalLake(root).put(key, encode_batch(observations), JSONL)
    return key
