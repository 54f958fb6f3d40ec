"""Benchmark: backfill a year x 3 coins of 5-minute candles from a rate-limited Coinbase clone.

    .venv/bin/python benchmarks/backfill_bench.py [--days 365] [--coins BTC,ETH,SOL]
        [--rate 10] [--transform] [--keep DIR]

Serves a Coinbase Exchange-compatible candle API on 127.0.0.1 (tests/fake_exchange.py) that
enforces `--rate` requests a second like the public API (a token bucket with no extra burst;
a request over it is a 429), then runs the very backfill `nebula backfill --source coinbase`
runs (the registry's coinbase source, plan_backfill, backfill into a local lake) and prints:

  requests    every request the server saw (429s included) and how many it refused
  wall        the backfill's wall time
  floor       requests / rate: no client can be faster without being refused
  ratio       wall / floor (goal: <= 1.2)

--transform then times `nebula transform` (the local curation run) over the year.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo's tests/ helpers

from nebulastream.coins import parse_symbols
from nebulastream.ingest import backfill, plan_backfill
from nebulastream.lake.storage import LocalLake
from nebulastream.sources import registry
from nebulastream.timeutil import utcnow
from tests.fake_exchange import Exchange, TokenBucket, serve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--coins", default="BTC,ETH,SOL")
    parser.add_argument("--rate", type=float, default=10.0, help="the server's limit, req/s")
    parser.add_argument("--transform", action="store_true", help="also time nebula transform")
    parser.add_argument("--keep", type=Path, help="write the lake here and keep it")
    args = parser.parse_args()

    coins = parse_symbols(args.coins)
    end = datetime(2026, 11, 30, tzinfo=UTC)
    start = end - timedelta(days=args.days)
    root = args.keep or Path(tempfile.mkdtemp(prefix="nebula-backfill-bench-"))
    lake = LocalLake(root)
    exchange = Exchange(limit=TokenBucket(args.rate, burst=args.rate))
    spec = registry.spec("coinbase")
    windows = plan_backfill(spec.name, coins, start, end, kind=spec.window_kind)
    try:
        with serve(exchange) as url:
            source = registry.build(spec.name, registry.SourceOptions(base_url=url, deadline=120))
            with source.client:
                began = time.perf_counter()
                result = backfill(source, lake, windows, now=utcnow)
                wall = time.perf_counter() - began
        requests = len(exchange.requests)
        floor = requests / args.rate
        print(
            f"backfill: {len(coins)} coins x {args.days} days = {len(windows)} windows, "
            f"{result.points:,} candles in {len(result.stored)} batches"
        )
        print(
            f"requests {requests} ({exchange.refused} refused with 429), client-side limit "
            f"{spec.rate_per_second:g}/s, server limit {args.rate:g}/s"
        )
        print(f"wall {wall:.1f} s  floor {floor:.1f} s (requests / rate)  ratio {wall / floor:.3f}")
        if args.transform:
            from nebulastream.curation.definition import CurationConfig
            from nebulastream.curation.local import transform

            began = time.perf_counter()
            report = transform(lake, config=CurationConfig(), now=utcnow(), full=True)
            took = time.perf_counter() - began
            print(f"transform {took:.1f} s: {report.summary()}")
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
