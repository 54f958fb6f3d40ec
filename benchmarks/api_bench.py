"""API benchmark: one year x 3 coins of 5-minute data, served over loopback, against its floor.

    .venv/bin/python -m benchmarks.api_bench [--requests 2000] [--keep /tmp/lake]

Builds the lake with the curation benchmark's generator (one raw batch per 5-minute slot)
and `nebula transform`'s runner, as `nebula run` leaves it, serves the API with uvicorn in a
separate process on the DuckDB engine and measures, from one sequential keep-alive client:
/prices/latest, /prices/history for one day at 1h and for the year at 1d.

The floor of each is measured in the same run: the same SQL statement on a DuckDB in-memory
table holding the year's rows, plus an empty route served by the same app through the same
HTTP client. Goals: p50 <= 1.5 x floor; /prices/latest >= 500 requests/s.
"""

from __future__ import annotations

import argparse
import multiprocessing
import shutil
import socket
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import httpx

from benchmarks.curation_bench import COINS, generate
from nebulastream.curation.definition import CurationConfig
from nebulastream.curation.duckdb_engine import transform
from nebulastream.lake.storage import LocalLake
from nebulastream.query import sql
from nebulastream.timeutil import floor_to, utcnow

SLOT = 300
ONE_DAY = timedelta(days=1)
EMPTY = "/bench/empty"


def build_lake(root: Path, end: datetime, days: int = 365) -> int:
    """The lake `nebula run` leaves after a year: the curation benchmark's generator writes one
    raw batch per 5-minute slot for [end - days, end), `nebula transform` curates them all.

    Raw batches stay in the lake after curation, so the API's freshness path (raw partitions of
    the last NEBULA_RAW_LOOKBACK_DAYS days, deduped against curated) is exercised as in use.
    """
    generate(root, days, start=end - timedelta(days=days))
    report = transform(
        LocalLake(root), config=CurationConfig(slot_seconds=SLOT), now=utcnow(), full=True
    )
    if report.rows_quarantined:
        raise SystemExit(f"the generator's rows should all pass curation: {report.summary()}")
    return report.rows_written


def _serve(root: str, port: int, reuse_results: bool) -> None:
    import uvicorn

    from api.app import app
    from nebulastream.query.duckdb import DuckDBEngine

    app.state.engine = DuckDBEngine(root, reuse_results=reuse_results)
    app.add_api_route(EMPTY, lambda: {}, include_in_schema=False)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Stats:
    p50: float
    p99: float
    per_second: float

    @classmethod
    def of(cls, seconds: list[float]) -> Stats:
        ordered = sorted(seconds)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        return cls(statistics.median(ordered) * 1e3, p99 * 1e3, len(ordered) / sum(ordered))


def measure(call: Callable[[], object], count: int, warmup: int = 50) -> Stats:
    for _ in range(warmup):
        call()
    seconds = []
    for _ in range(count):
        began = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - began)
    return Stats.of(seconds)


def serve_and_measure(
    root: Path,
    reuse_results: bool,
    routes: dict[str, tuple[str, dict[str, str] | None]],
    count: int,
) -> tuple[Stats, dict[str, Stats]]:
    """The API in its own process (one core for it, one for the client), measured over loopback."""
    port = _free_port()
    server = multiprocessing.get_context("spawn").Process(
        target=_serve, args=(str(root), port, reuse_results), daemon=True
    )
    server.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            for _ in range(400):
                try:
                    client.get(EMPTY)
                    break
                except httpx.TransportError:
                    time.sleep(0.05)
            for name, (path, params) in routes.items():
                began = time.perf_counter()
                body = client.get(path, params=params).raise_for_status().json()
                items = len(body.get("points", body.get("prices", [])))
                cold = (time.perf_counter() - began) * 1e3
                print(f"  {name}: {items} items; first request {cold:.0f} ms (loads the days)")
            empty = measure(lambda: client.get(EMPTY), count)
            results = {
                name: measure(lambda p=path, q=params: client.get(p, params=q), count)
                for name, (path, params) in routes.items()
            }
    finally:
        server.terminate()
        server.join()
    return empty, results


def report(title: str, empty: Stats, results: dict[str, Stats], floors: dict[str, Stats]) -> None:
    print(f"\n{title}")
    print(
        f"  empty route: p50 {empty.p50:.2f} ms, p99 {empty.p99:.2f} ms, "
        f"{empty.per_second:,.0f} req/s"
    )
    header = (
        f"  {'route':<28} {'p50 ms':>7} {'p99 ms':>7} {'req/s':>7} "
        f"{'agg ms':>7} {'floor ms':>8} {'p50/floor':>9}"
    )
    print(header)
    print("  " + "-" * (len(header) - 2))
    met = True
    for name, stats in results.items():
        floor = floors[name].p50 + empty.p50
        ratio = stats.p50 / floor
        met &= ratio <= 1.5
        print(
            f"  {name:<28} {stats.p50:>7.2f} {stats.p99:>7.2f} {stats.per_second:>7,.0f} "
            f"{floors[name].p50:>7.2f} {floor:>8.2f} {ratio:>8.2f}x"
        )
    rps = results["/prices/latest"].per_second
    print(
        f"  goals: p50 <= 1.5 x floor {'met' if met else 'NOT met'}; "
        f"/prices/latest >= 500 req/s {'met' if rps >= 500 else 'NOT met'} ({rps:,.0f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="timed requests per route")
    parser.add_argument("--keep", type=Path, help="build the lake in this new folder, keep it")
    args = parser.parse_args()

    end = floor_to(utcnow(), SLOT)
    root = args.keep or Path(tempfile.mkdtemp(prefix="nebula-api-bench-"))
    if root.exists() and any(root.iterdir()):
        raise SystemExit(f"{root} is not empty: give a new folder to --keep.")
    began = time.perf_counter()
    rows = build_lake(root, end)
    partitions = len(list(root.glob("curated/*")))
    batches = len(list(root.glob("raw/*/*.jsonl")))
    print(
        f"lake: {rows:,} curated rows in {partitions} daily Parquet partitions; {batches} raw "
        f"batches kept beside them, built in {time.perf_counter() - began:.1f} s at {root}"
    )

    yesterday = (end - timedelta(days=1)).date()
    day = datetime(yesterday.year, yesterday.month, yesterday.day, tzinfo=UTC)
    year = end - timedelta(days=365)
    one_day = {"start": day.isoformat(), "end": (day + ONE_DAY).isoformat(), "interval": "1h"}
    routes: dict[str, tuple[str, dict[str, str] | None]] = {
        "/prices/latest": ("/prices/latest", None),
        "/prices/history 1 day, 1h": ("/prices/history", {"coin": "BTC", **one_day}),
        "/prices/history 1 year, 1d": (
            "/prices/history",
            {"coin": "BTC", "start": year.isoformat(), "end": end.isoformat(), "interval": "1d"},
        ),
    }
    # The floor's aggregation: the same statements on the year's rows in an in-memory table.
    newest = end.date()
    naive = {"day": day.replace(tzinfo=None), "year": year.replace(tzinfo=None)}
    statements = {
        "/prices/latest": sql.latest(tuple(COINS), (newest - 2 * ONE_DAY, newest + ONE_DAY)),
        "/prices/history 1 day, 1h": sql.history(
            "BTC", naive["day"], naive["day"] + ONE_DAY, 3600, (yesterday, yesterday), "duckdb"
        ),
        "/prices/history 1 year, 1d": sql.history(
            "BTC",
            naive["year"],
            end.replace(tzinfo=None),
            86400,
            (year.date(), (end - timedelta(microseconds=1)).date()),
            "duckdb",
        ),
    }
    memory = duckdb.connect()
    memory.execute(
        "CREATE TABLE observations AS SELECT * FROM read_parquet(?, hive_partitioning = true, "
        "hive_types = {'dt': VARCHAR}) ORDER BY dt",
        [str(root / "curated" / "*" / "*.parquet")],
    )
    floors = {
        name: measure(lambda s=s: memory.execute(s.sql, list(s.params)).fetchall(), args.requests)
        for name, s in statements.items()
    }
    memory.close()

    for reuse in (True, False):
        label = "engine result reuse ON (default)" if reuse else "engine result reuse OFF"
        print(f"\nserving with {label}:")
        empty, results = serve_and_measure(root, reuse, routes, args.requests)
        report(f"{label}: one sequential keep-alive client over loopback", empty, results, floors)
    if args.keep is None:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
