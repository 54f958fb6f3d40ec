"""Benchmark: backfill a year x 3 coins of 5-minute candles from a rate-limited Coinbase clone.

    .venv/bin/python benchmarks/backfill_bench.py [--days 365] [--coins BTC,ETH,SOL]
        [--rate 10] [--transform] [--keep DIR]

Serves a Coinbase Exchange-compatible candle API on 127.0.0.1 (tests/fake_exchange.py) that
enforces `--rate` requests a second like the public API (a token bucket with no extra burst;
a request over it is a 429), then runs the very backfill `nebula backfill --source coinbase`
runs (the registry's coinbase source, or --source bitstamp, plan_backfill, backfill into a
local lake) and prints:

  requests    every request the server saw (429s included) and how many it refused
  wall        the backfill's wall time
  floor       requests / rate: no client can be faster without being refused
  ratio       wall / floor (goal: <= 1.2)

--transform then times `nebula transform` (the local curation run) over the year and checks
issue 12's "done when" on the result: the curated rows per coin, and the year of
/prices/history?interval=5m&source=coinbase (the query service the API runs, piece by piece
as `nebula export` asks) against every candle the server sent, field by field.
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
    parser.add_argument("--source", default="coinbase", choices=["coinbase", "bitstamp"])
    args = parser.parse_args()

    coins = parse_symbols(args.coins)
    end = datetime(2026, 11, 30, tzinfo=UTC)
    start = end - timedelta(days=args.days)
    root = args.keep or Path(tempfile.mkdtemp(prefix="nebula-backfill-bench-"))
    lake = LocalLake(root)
    exchange = Exchange(limit=TokenBucket(args.rate, burst=args.rate))
    spec = registry.spec(args.source)
    windows = plan_backfill(spec.name, coins, start, end, kind=spec.window_kind)
    try:
        with serve(exchange) as url:
            root_url = url if spec.name == "coinbase" else f"{url}/api/v2"
            options = registry.SourceOptions(base_url=root_url, deadline=120)
            source = registry.build(spec.name, options)
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
            from nebulastream.curation.duckdb_engine import transform

            began = time.perf_counter()
            report = transform(lake, config=CurationConfig(), now=utcnow(), full=True)
            took = time.perf_counter() - began
            print(f"transform {took:.1f} s: {report.summary()}")
            check_answers(root, exchange, spec.name, coins, start, end)
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


def check_answers(
    root: Path, exchange: Exchange, name: str, coins: list[str], start: datetime, end: datetime
) -> None:
    """Rows per coin and every 5-minute bucket of source=NAME against the served candles."""
    from nebulastream.query import service
    from nebulastream.query.duckdb import DuckDBEngine
    from nebulastream.query.export import long_history
    from nebulastream.query.service import Interval
    from tests.fake_exchange import BITSTAMP_PAIRS, COINBASE_PRODUCTS, STEP

    engine = DuckDBEngine(root, recheck_seconds=0)
    now = utcnow()
    only = service.parse_source(name, list(registry.REGISTRY))
    try:
        for info in service.coin_summaries(engine, coins, now, 2):
            print(f"{info.coin}: {info.rows:,} curated rows ({info.first_ts} .. {info.last_ts})")
        for coin in coins:
            began = time.perf_counter()
            answer = long_history(engine, coin, start, end, Interval.M5, now, 2, sources=only)
            took = time.perf_counter() - began
            bases = {"coinbase": COINBASE_PRODUCTS, "bitstamp": BITSTAMP_PAIRS}[name]
            base = bases[f"{coin}-USD" if name == "coinbase" else f"{coin.lower()}usd"]
            sent = exchange.candles(base, int(start.timestamp()), int(end.timestamp()) - STEP)
            got = [
                (int(p.ts.timestamp()), p.open, p.high, p.low, p.close, p.samples, p.sources)
                for p in answer.points
            ]
            want = [(c.time, c.open, c.high, c.low, c.close, 1, [name]) for c in sent]
            verdict = "exactly the candles sent" if got == want else "DIFFERENT from what was sent"
            print(
                f"{coin} history 5m source={name}: {len(got):,} buckets in {took:.1f} s, {verdict}"
            )
            if got != want:
                raise SystemExit(1)
    finally:
        engine.close()


if __name__ == "__main__":
    main()
