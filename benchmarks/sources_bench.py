"""What `source=best` costs a history query: a year of one coin from two overlapping sources.

    .venv/bin/python -m benchmarks.sources_bench [--repeat 15]

An in-memory DuckDB table `observations` (the API's relation) holds a year of BTC at 5 minutes
from CoinGecko (points) and from Coinbase (candles): 2 x 105,120 rows. Each statement is the
one the API sends (nebulastream/query/sql.py) for a one-day history at 5m and a one-year
history at 1d, timed as the median of --repeat runs:

  floor    the pre-source statement (no per-slot pick) over the CoinGecko rows alone: what one
           source cost before queries knew sources
  one      source=coingecko: the same rows through the new statement
  best     source=best over both sources: each slot picked from one of them

Ratios are against the floor measured in the same run. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import datetime, timedelta

import duckdb

from nebulastream.query import sql
from nebulastream.schema import CURATED_COLUMNS, PARTITION_COLUMN

START = datetime(2025, 12, 1)
DAYS = 365
SLOT = 300
RANKED = ("coingecko", "coinbase", "bitstamp")

# The history statement before queries knew sources (main before issue 12's query half).
FLOOR_TEMPLATE = """SELECT bucket,
       arg_min_null(price_usd, ts) AS open, max(price_usd) AS high, min(price_usd) AS low,
       arg_max_null(price_usd, ts) AS close, count(*) AS samples,
       arg_max_null(market_cap_usd, ts) AS market_cap_usd,
       arg_max_null(volume_24h_usd, ts) AS volume_24h_usd
FROM (
  SELECT epoch_s - epoch_s % ? AS bucket, ts, price_usd, market_cap_usd, volume_24h_usd
  FROM (
    SELECT date_diff('second', TIMESTAMP '1970-01-01 00:00:00', ts) AS epoch_s,
           ts, price_usd, market_cap_usd, volume_24h_usd
    FROM observations
    WHERE coin = ? AND dt BETWEEN ? AND ?
      AND ts >= CAST(? AS TIMESTAMP) AND ts < CAST(? AS TIMESTAMP) AND source = 'coingecko'
  ) AS picked
) AS bucketed
GROUP BY bucket
ORDER BY bucket"""


def build() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    types = {"string": "VARCHAR", "double": "DOUBLE", "bigint": "BIGINT", "timestamp": "TIMESTAMP"}
    columns = ", ".join(f"{c} {types[t]}" for c, t in CURATED_COLUMNS.items())
    con.execute(f"CREATE TABLE observations ({columns}, {PARTITION_COLUMN} VARCHAR)")
    slots = DAYS * 86400 // SLOT
    for source, offset, candle in (("coingecko", 40, False), ("coinbase", 0, True)):
        con.execute(
            f"""INSERT INTO observations
SELECT 'BTC', ts, price, 1.3e12, 3.1e10, -1.2, '{source}', ts + INTERVAL 1 MINUTE,
       {"price - 5" if candle else "NULL"}, {"price + 20" if candle else "NULL"},
       {"price - 25" if candle else "NULL"}, {SLOT if candle else 0},
       {"price * 3" if candle else "NULL"}, 'raw/x', strftime(ts, '%Y-%m-%d')
FROM (
  SELECT TIMESTAMP '{START:%Y-%m-%d %H:%M:%S}' + to_seconds(i * {SLOT} + {offset}) AS ts,
         60000 + 500 * sin(i / 50.0) AS price
  FROM range({slots}) AS r(i)
)"""
        )
    return con


def timed(con: duckdb.DuckDBPyConnection, statement: sql.Statement, repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        began = time.perf_counter()
        con.execute(statement.sql, list(statement.params)).fetchall()
        runs.append(time.perf_counter() - began)
    return statistics.median(runs) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    con = build()
    total = con.execute("SELECT count(*) FROM observations").fetchone()
    print(
        f"observations: {total[0]:,} rows (BTC, {DAYS} days, coingecko points + coinbase candles)"
    )
    end = START + timedelta(days=DAYS)
    cases = {
        "1 day at 5m": (end - timedelta(days=1), end, 300),
        "1 year at 1d": (START, end, 86400),
    }
    for label, (lo, hi, step) in cases.items():
        days = (lo.date(), (hi - timedelta(microseconds=1)).date())
        floor_params = (
            step,
            "BTC",
            sql.day_param(days[0]),
            sql.day_param(days[1]),
            sql.time_param(lo),
            sql.time_param(hi),
        )
        floor = timed(con, sql.Statement(FLOOR_TEMPLATE, floor_params), args.repeat)
        one = sql.history("BTC", lo, hi, step, days, "duckdb", sql.Sources(RANKED, "coingecko"))
        best = sql.history("BTC", lo, hi, step, days, "duckdb", sql.Sources(RANKED))
        one_ms, best_ms = timed(con, one, args.repeat), timed(con, best, args.repeat)
        print(
            f"{label:13}  floor {floor:6.2f} ms   one source {one_ms:6.2f} ms "
            f"({one_ms / floor:.2f}x)   best of two {best_ms:6.2f} ms ({best_ms / floor:.2f}x)"
        )


if __name__ == "__main__":
    main()
