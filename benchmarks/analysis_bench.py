"""Analysis benchmark: `nebula sql`'s views and `nebula export` on a year x 3 coins of 5 minutes.

    .venv/bin/python -m benchmarks.analysis_bench [--days 365] [--repeat 7] [--keep /tmp/lake]

Builds the lake as the API benchmark does (`nebula transform` over one raw batch per slot),
then measures, each against its floor in the same run:

- opening the views (LakeViews: listing the lake, locking the connection; a view is created
  when a query first names it);
- a per-coin count and the year's daily OHLC of one coin through the `prices` view (which
  deduplicates curated against fresh raw with the query layer's SQL on every query), against
  the same SQL over `read_parquet` of the curated files alone (no dedup: the floor); one day
  of the `raw` view (a `dt` filter; the view spans every raw batch) against `read_json` of
  that day's folder;
- `nebula export` of the year at 5m (105,120 buckets, 11 pieces) and at 1h, against one
  unlimited query of the same statement on the engine's table.

Nothing here is a test: it prints medians and ratios.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import duckdb

from benchmarks.api_bench import build_lake
from nebulastream.query import export, service
from nebulastream.query.duckdb import RAW_JSON_OPTIONS, DuckDBEngine
from nebulastream.query.service import Interval
from nebulastream.query.views import LakeViews
from nebulastream.timeutil import floor_to, utcnow

COUNT = "SELECT coin, count(*) FROM {table} GROUP BY coin ORDER BY coin"
DAILY = """SELECT time_bucket(INTERVAL 1 DAY, ts) AS day, arg_min(price_usd, ts), max(price_usd),
       min(price_usd), arg_max(price_usd, ts), count(*)
FROM {table} WHERE coin = 'BTC' GROUP BY 1 ORDER BY 1"""


def median_ms(action: Callable[[], object], repeat: int) -> float:
    action()  # warm: file system caches, DuckDB's first-use costs
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--keep", type=Path, help="build (or reuse) the lake here")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="nebula-analysis-bench-"))
    now = utcnow()
    end = floor_to(now, 86400)
    if not (root / "curated").exists():
        started = time.perf_counter()
        rows = build_lake(root, end, args.days)
        print(f"lake: {rows:,} rows over {args.days} days in {time.perf_counter() - started:.0f} s")
    raw_since = now.date() - timedelta(days=2)
    files = f"read_parquet('{root}/curated/*/*.parquet', hive_partitioning = true)"
    floor = duckdb.connect()
    results: list[tuple[str, float, float]] = []
    try:
        results.append(
            (
                "open the views",
                median_ms(lambda: LakeViews(root, raw_since=raw_since).close(), args.repeat),
                median_ms(lambda: duckdb.connect().close(), args.repeat),
            )
        )
        with LakeViews(root, raw_since=raw_since) as views:
            for name, text in (("count per coin", COUNT), ("daily OHLC, year", DAILY)):
                mine = median_ms(lambda t=text: views.query(t.format(table="prices")), args.repeat)
                base = median_ms(
                    lambda t=text: floor.execute(t.format(table=files)).fetchall(), args.repeat
                )
                results.append((f"sql: {name}", mine, base))
            day = (end - timedelta(days=1)).date().isoformat()
            one_day = f"read_json('{root}/raw/dt={day}/*.jsonl', {RAW_JSON_OPTIONS})"
            results.append(
                (
                    "sql: raw, one day (dt filter)",
                    median_ms(
                        lambda: views.query(f"SELECT count(*) FROM raw WHERE dt = '{day}'"),
                        args.repeat,
                    ),
                    median_ms(
                        lambda: floor.execute(f"SELECT count(*) FROM {one_day}").fetchall(),
                        args.repeat,
                    ),
                )
            )
        engine = DuckDBEngine(root)
        start = end - timedelta(days=args.days)
        for interval in (Interval.M5, Interval.H1):

            def pieced(i: Interval = interval) -> object:
                return export.long_history(engine, "BTC", start, end, i, now, 2)

            def whole(i: Interval = interval) -> object:
                statement = service.sql.history(
                    "BTC",
                    start.replace(tzinfo=None),
                    end.replace(tzinfo=None),
                    i.seconds,
                    (start.date(), end.date()),
                    "duckdb",
                )
                cursor = engine._cursor()  # the engine's loaded table: the floor
                return cursor.execute(statement.sql, list(statement.params)).fetchall()

            engine.reuse_results = False
            results.append(
                (
                    f"export {interval.value}, year ({len(export.pieces(start, end, interval))} "
                    "pieces)",
                    median_ms(pieced, args.repeat),
                    median_ms(whole, args.repeat),
                )
            )
        engine.close()
    finally:
        floor.close()
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    print(f"{'measure':<34} {'median ms':>10} {'floor ms':>10} {'ratio':>7}")
    for name, mine, base in results:
        print(f"{name:<34} {mine:>10.1f} {base:>10.1f} {mine / base:>7.1f}")


if __name__ == "__main__":
    main()
