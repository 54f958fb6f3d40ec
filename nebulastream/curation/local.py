"""`nebula transform`: the curation definition run on DuckDB over the lake, with no JVM.

A run lists raw/, picks the batches that are new or changed since the manifest (all of them
with `full`), runs the definition's SQL and then publishes in an order that keeps the lake
consistent if it stops half-way: curated days first (each file replaced atomically), then
quarantine, then the manifest, then the report. A run that died before the manifest is
simply repeated by the next one; dedup makes the repeat harmless.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from nebulastream.curation.definition import (
    DUCKDB,
    CurationConfig,
    accepted_days_sql,
    checked_sql,
    curated_sql,
    deduped_sql,
    touched_days,
)
from nebulastream.curation.outputs import (
    PARQUET,
    VersionedLake,
    curated_days,
    publish_results,
    record_batches,
    select_batches,
    store_report,
)
from nebulastream.curation.parquet import CURATED_SCHEMA, read_day, write_day
from nebulastream.curation.rawfiles import read_batches
from nebulastream.curation.report import RunReport
from nebulastream.lake.layout import curated_key
from nebulastream.schema import PARTITION_COLUMN
from nebulastream.timeutil import iso_z

RUNNER = "duckdb"
WRITERS = 4


def transform(
    lake: VersionedLake, *, config: CurationConfig, now: datetime, full: bool = False
) -> RunReport:
    """Curate the raw batches new since the last run (every batch with `full`)."""
    clock = time.perf_counter()
    report = RunReport(
        runner=RUNNER, mode="full" if full else "incremental", lake=lake.uri, started_at=iso_z(now)
    )
    selection = select_batches(lake, full=full)
    keys = selection.keys
    report.batches_read = len(keys)
    lap = report.lap("list", clock)
    raw = read_batches(lake, keys)
    lap = report.lap("read", lap)

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")  # the definition's instants are UTC on every engine
    con.register("raw_lines", raw)
    con.execute(f"CREATE TEMP TABLE checked AS {checked_sql(DUCKDB, config, now)}")
    days = [row[0] for row in con.execute(accepted_days_sql(DUCKDB)).fetchall()]
    present = curated_days(lake)
    existing = (
        CURATED_SCHEMA.empty_table()
        if full
        else pa.concat_tables(
            [CURATED_SCHEMA.empty_table()]
            + [read_day(lake.get(present[day])) for day in days if day in present]
        )
    )
    con.register("existing", existing)
    spans = touched_days(days, now, config)
    con.register(
        "touched_days",
        pa.table(
            {
                "dt": [d for d, _, _ in spans],
                "start_us": pa.array([s for _, s, _ in spans], pa.int64()),
                "end_us": pa.array([e for _, _, e in spans], pa.int64()),
            }
        ),
    )
    con.execute(f"CREATE TEMP TABLE deduped AS {deduped_sql(DUCKDB)}")
    curated = con.sql(curated_sql(DUCKDB)).to_arrow_table()
    lap = report.lap("sql", lap)
    written = write_days(lake, curated)
    lap = report.lap("write", lap)
    publish_results(
        lake,
        lambda sql: con.sql(sql).to_arrow_table().to_pylist(),
        report,
        config=config,
        batches=keys,
        full=full,
        rows_existing=existing.num_rows,
        rows_written=curated.num_rows,
        days_written=written,
    )
    lap = report.lap("quarantine+report", lap)
    record_batches(lake, selection, full=full)
    report.lap("manifest", lap)
    store_report(lake, report, clock)
    return report


def write_days(lake: VersionedLake, curated: pa.Table) -> list[str]:
    """One Parquet file per day; `curated` arrives sorted by dt, so days are runs of rows."""
    if curated.num_rows == 0:
        return []
    runs = pc.run_end_encode(curated[PARTITION_COLUMN].combine_chunks())
    ends = runs.run_ends.to_pylist()
    days = runs.values.to_pylist()
    starts = [0, *ends[:-1]]

    def put(day: str, start: int, end: int) -> None:
        lake.put(curated_key(day), write_day(curated.slice(start, end - start)), PARQUET)

    # Encoding and the atomic put's fsync both release the GIL: a few threads overlap them
    # (a full year is 365 files).
    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        list(pool.map(put, days, starts, ends))
    return [str(day) for day in days]
