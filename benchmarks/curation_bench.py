"""Benchmark: a year of 5-minute raw batches (3 coins, 315k rows) through `nebula transform --full`.

    .venv/bin/python benchmarks/curation_bench.py [--days 365] [--keep DIR] [--glob-floor]

Writes one spot batch per 5-minute slot in the real raw format (models.Observation, layout
spot_key: 105,120 files for a year), then in the same run times:

  transform   the local runner, full reprocess (what `nebula transform --full` calls)
  floor       a bare DuckDB COPY of the same rows to Parquet, read from ONE JSON Lines file
              holding them all (no rules, dedup, sorting or partitioning, no per-file cost)
  increment   one new slot's batch after the full run (the every-5-minutes case)

and prints rows/s, the ratio to the floor, the files and bytes under curated/, and how many
bytes a one-day query for one coin must read, for the dt layout and for dt+coin partitions.
--glob-floor also times DuckDB's COPY reading the 105k batch files itself (slow: ~40 s here).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from nebulastream.curation.definition import CurationConfig
from nebulastream.curation.duckdb_engine import transform
from nebulastream.curation.parquet import duckdb_source
from nebulastream.lake.layout import spot_key
from nebulastream.lake.storage import LocalLake
from nebulastream.models import Observation, encode_batch

START = datetime(2025, 1, 1, tzinfo=UTC)
COINS = {"BTC": 60000.0, "ETH": 3000.0, "SOL": 150.0}
RAW_COLUMNS_SQL = (
    "{'coin': 'VARCHAR', 'source': 'VARCHAR', 'price_usd': 'DOUBLE', 'market_cap_usd': 'DOUBLE', "
    "'volume_24h_usd': 'DOUBLE', 'change_24h_pct': 'DOUBLE', 'observed_at': 'VARCHAR', "
    "'fetched_at': 'VARCHAR', 'slot': 'VARCHAR', 'source_payload': 'VARCHAR'}"
)


def spot_batch(slot: datetime, prices: dict[str, float], rnd: random.Random) -> bytes:
    """One slot's batch: each coin's random walk moved one step, as the fetcher writes it."""
    observed = slot - timedelta(seconds=40)  # CoinGecko's last_updated_at lags the slot
    batch = []
    for coin in prices:
        prices[coin] *= math.exp(rnd.gauss(0, 0.002))
        price, change = prices[coin], rnd.gauss(0, 2)
        payload = {
            "usd": price,
            "usd_market_cap": price * 2e7,
            "usd_24h_vol": price * 5e5,
            "usd_24h_change": change,
            "last_updated_at": int(observed.timestamp()),
        }
        batch.append(
            Observation(
                coin=coin,
                source="coingecko",
                price_usd=price,
                market_cap_usd=price * 2e7,
                volume_24h_usd=price * 5e5,
                change_24h_pct=change,
                observed_at=observed,
                fetched_at=slot + timedelta(seconds=1, milliseconds=234),
                slot=slot,
                source_payload=json.dumps(payload, separators=(",", ":")),
            )
        )
    return encode_batch(batch)


def write_batch(root: Path, slot: datetime, data: bytes) -> None:
    path = root / spot_key("coingecko", slot)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def generate(root: Path, days: int, start: datetime = START) -> int:
    """One spot batch per 5-minute slot for `days` days from `start` (a slot boundary)."""
    rnd = random.Random(20261128)
    prices = dict(COINS)
    for step in range(days * 288):
        slot = start + timedelta(minutes=5 * step)
        write_batch(root, slot, spot_batch(slot, prices, rnd))
    return days * 288 * len(prices)


def timed(action):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def floor_copy(source: str, target: Path) -> float:
    con = duckdb.connect()
    seconds, _ = timed(
        lambda: con.execute(
            f"COPY (SELECT * FROM read_json('{source}', format = 'newline_delimited', "
            f"columns = {RAW_COLUMNS_SQL})) TO '{target}' (FORMAT parquet, COMPRESSION snappy)"
        )
    )
    return seconds


def one_day_one_coin(pattern: str, partitions: str, day: str) -> float:
    """Median seconds of one day's OHLC for BTC through a glob over every day."""
    con = duckdb.connect()
    source = f"read_parquet('{pattern}', hive_partitioning = true, hive_types = {{{partitions}}})"
    sql = (
        f"SELECT arg_min(price_usd, ts), max(price_usd), min(price_usd), arg_max(price_usd, ts) "
        f"FROM {source} WHERE dt = '{day}' AND coin = 'BTC'"
    )
    con.execute(sql).fetchall()
    runs = []
    for _ in range(7):
        seconds, _ = timed(lambda: con.execute(sql).fetchall())
        runs.append(seconds)
    return sorted(runs)[len(runs) // 2]


def file_bytes_for_query(path: Path, columns: list[str]) -> int:
    """Bytes a reader must fetch from one day file: footer plus the queried column chunks."""
    meta = pq.ParquetFile(path).metadata
    chunks = sum(
        meta.row_group(g).column(c).total_compressed_size
        for g in range(meta.num_row_groups)
        for c in range(meta.num_columns)
        if meta.row_group(g).column(c).path_in_schema in columns
    )
    return chunks + meta.serialized_size + 8


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--keep", type=Path, help="generate into (or reuse) this folder")
    parser.add_argument("--glob-floor", action="store_true")
    args = parser.parse_args()

    work = args.keep or Path(tempfile.mkdtemp(prefix="nebula-bench-"))
    root = work / "lake"
    try:
        if not (root / "raw").exists():
            seconds, rows = timed(lambda: generate(root, args.days))
            print(
                f"generated {rows} observations in {args.days * 288} raw batches ({seconds:.1f} s)"
            )
        for derived in ("curated", "quarantine", "reports"):
            shutil.rmtree(root / derived, ignore_errors=True)
        lake = LocalLake(root)
        keys = [key for key, _ in lake.versions("raw/")]
        all_rows = work / "all.jsonl"
        with all_rows.open("wb") as out:
            for key in keys:
                out.write(lake.get(key))
        now = START + timedelta(days=args.days, minutes=10)
        print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")

        config = CurationConfig()
        t_transform, report = timed(lambda: transform(lake, config=config, now=now, full=True))
        t_floor = floor_copy(str(all_rows), work / "floor.parquet")
        rows = report.rows_read
        print(
            f"transform --full: {rows} rows from {report.batches_read} batches in "
            f"{t_transform:.2f} s = {rows / t_transform:,.0f} rows/s "
            f"(stages: {report.stage_seconds})"
        )
        print(
            f"floor (DuckDB COPY of the same rows from one JSONL file): {t_floor:.2f} s = "
            f"{rows / t_floor:,.0f} rows/s"
        )
        print(f"ratio transform / floor: {t_transform / t_floor:.1f}x (goal <= 3x; year <= 5 s)")
        if args.glob_floor:
            t_glob = floor_copy(f"{root}/raw/*/*.jsonl", work / "glob.parquet")
            print(
                f"DuckDB COPY reading the {len(keys)} batch files itself: {t_glob:.2f} s "
                f"(transform is {t_glob / t_transform:.1f}x faster)"
            )

        new_slot = START + timedelta(days=args.days)
        write_batch(root, new_slot, spot_batch(new_slot, dict(COINS), random.Random(1)))
        t_inc, inc = timed(lambda: transform(lake, config=config, now=now))
        (root / spot_key("coingecko", new_slot)).unlink()  # keep a --keep lake at one year
        print(
            f"incremental run with one new batch: {t_inc:.2f} s "
            f"({inc.batches_read} batch, {inc.rows_read} rows, stages {inc.stage_seconds})"
        )

        files = sorted((root / "curated").rglob("*.parquet"))
        total = sum(f.stat().st_size for f in files)
        day = (START + timedelta(days=args.days // 2)).strftime("%Y-%m-%d")
        day_file = root / "curated" / f"dt={day}" / "prices.parquet"
        needed = file_bytes_for_query(day_file, ["coin", "ts", "price_usd"])
        print(
            f"curated/: {len(files)} files, {total:,} bytes ({total / len(files):,.0f} per day); "
            f"one day for one coin reads 1 file: {needed:,} of its "
            f"{day_file.stat().st_size:,} bytes (coin, ts, price_usd + footer)"
        )
        q_dt = one_day_one_coin(f"{root}/curated/dt=*/*.parquet", "'dt': 'VARCHAR'", day)
        by_coin = work / "by_coin"
        shutil.rmtree(by_coin, ignore_errors=True)
        duckdb.execute(
            f"COPY (SELECT * FROM {duckdb_source(root)} ORDER BY dt, coin, ts) TO '{by_coin}' "
            "(FORMAT parquet, COMPRESSION snappy, PARTITION_BY (dt, coin))"
        )
        coin_files = sorted(by_coin.rglob("*.parquet"))
        q_coin = one_day_one_coin(
            f"{by_coin}/dt=*/coin=*/*.parquet", "'dt': 'VARCHAR', 'coin': 'VARCHAR'", day
        )
        print(
            f"one-day BTC OHLC query (DuckDB, median of 7): dt layout {q_dt * 1000:.1f} ms; "
            f"dt+coin layout ({len(coin_files)} files, "
            f"{sum(f.stat().st_size for f in coin_files):,} bytes) {q_coin * 1000:.1f} ms"
        )
        coin_file = next((by_coin / f"dt={day}" / "coin=BTC").glob("*.parquet"))
        print(
            f"  bytes one day of BTC must read: dt layout {needed:,}, dt+coin layout "
            f"{file_bytes_for_query(coin_file, ['ts', 'price_usd']):,}"
        )
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
