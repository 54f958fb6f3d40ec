"""Shared arrangements for the curation tests: the fixture lake, its clock, raw lines."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from nebulastream.curation.parquet import arrow_dataset
from nebulastream.lake.storage import LocalLake

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
