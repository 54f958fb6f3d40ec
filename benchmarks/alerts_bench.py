"""Alert evaluation benchmark: what evaluating rules after a fetch adds, against its floor.

    .venv/bin/python -m benchmarks.alerts_bench [--fetches 40] [--days 2]

Builds a local lake of `--days` days of 5-minute raw batches for BTC, ETH and SOL (what the
queries read before curation), then repeats: store one more batch (the fetch's own write),
evaluate three rules (above, a 1-hour change, stale) as `nebula run` does (one engine kept)
and as `nebula fetch` does (a new engine per run). The floor, measured in the same run, is one
`/prices/latest` query (service.latest) on a warm engine. Nothing is asserted: numbers only.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from nebulastream.alerts.edge import Alerts
from nebulastream.alerts.service import AlertRun
from nebulastream.lake.layout import spot_key
from nebulastream.lake.storage import LocalLake
from nebulastream.models import Observation, encode_batch
from nebulastream.query import service
from nebulastream.query.duckdb import DuckDBEngine
from nebulastream.settings import Settings

SLOT = timedelta(minutes=5)
PRICES = {"BTC": 90_000.0, "ETH": 3_000.0, "SOL": 140.0}
RULES = """\
rules:
  - {name: btc-high, coin: BTC, above: 1000000}
  - {name: eth-move, coin: ETH, change_pct: 5, within: 1h}
  - {name: sol-stale, coin: SOL, stale_for: 15m}
"""


def put_batch(lake: LocalLake, slot: datetime, rng: random.Random) -> None:
    rows = []
    for coin in PRICES:
        PRICES[coin] *= 1 + rng.gauss(0, 0.002)
        rows.append(
            Observation(
                coin,
                "coingecko",
                PRICES[coin],
                None,
                None,
                None,
                slot + timedelta(seconds=30),
                slot + timedelta(seconds=40),
                slot,
                "{}",
            )
        )
    lake.put(spot_key("coingecko", slot), encode_batch(rows), "application/x-ndjson")


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fetches", type=int, default=40)
    parser.add_argument("--days", type=int, default=2)
    args = parser.parse_args()
    rng = random.Random(7)
    with tempfile.TemporaryDirectory(prefix="nebula-alerts-bench-") as tmp:
        root = Path(tmp) / "lake"
        (Path(tmp) / "alerts.yml").write_text(RULES)
        lake = LocalLake(root)
        start = datetime(2026, 11, 26, tzinfo=UTC)
        slot = start
        while slot < start + timedelta(days=args.days):
            put_batch(lake, slot, rng)
            slot += SLOT
        settings = Settings(lake_uri=str(root))
        warm = Alerts(settings, lake, {})
        floor_engine = DuckDBEngine(root, recheck_seconds=0.0, reuse_results=False)
        write, kept, fresh, floor = [], [], [], []
        runs: list[AlertRun | None] = []
        for _ in range(args.fetches):
            now = slot + timedelta(seconds=45)
            write.append(timed(lambda s=slot: put_batch(lake, s, rng)))
            kept.append(timed(lambda n=now: runs.append(warm.after_fetch(now=n, owner="kept"))))
            cold = Alerts(settings, lake, {})
            fresh.append(timed(lambda n=now, c=cold: c.after_fetch(now=n, owner="fresh")))
            cold.close()
            floor.append(timed(lambda n=now: service.latest(floor_engine, list(PRICES), n, 2)))
            slot += SLOT
        warm.close()
        floor_engine.close()
    assert all(run is not None for run in runs)  # every evaluation ran the rules
    p50 = statistics.median
    base = p50(floor)
    print(f"lake: {args.days} days of 5-minute raw batches x 3 coins; {args.fetches} fetches")
    print(f"{'step':<48}{'p50 ms':>9}{'x floor':>9}")
    for name, values in (
        ("floor: one /prices/latest query (warm engine)", floor),
        ("the fetch's batch write", write),
        ("evaluate 3 rules, engine kept (nebula run)", kept),
        ("evaluate 3 rules, new engine (nebula fetch)", fresh),
    ):
        print(f"{name:<48}{p50(values):>9.1f}{p50(values) / base:>9.1f}")


if __name__ == "__main__":
    main()
