"""The DuckDB engine of the curation pipeline: `nebula transform`, in process, no JVM.

Raw batches are parsed by pyarrow's multi-threaded JSON reader (rawfiles.py), the
definition's SQL runs on DuckDB, and each day is written as one Parquet file by pyarrow.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from nebulastream.curation.definition import DUCKDB, CurationConfig, Dialect
from nebulastream.curation.outputs import PARQUET, VersionedLake
from nebulastream.curation.parquet import write_day
from nebulastream.curation.pipeline import curate
from nebulastream.curation.rawfiles import read_batches
from nebulastream.curation.report import RunReport
from nebulastream.lake.layout import curated_key
from nebulastream.schema import PARTITION_COLUMN

log = logging.getLogger(__name__)
WRITERS = 4
_TYPES = {"string": pa.string(), "bigint": pa.int64()}


class DuckDBEngine:
    """One in-memory DuckDB database per run; stages are temp tables."""

    runner = "duckdb"
    dialect: Dialect = DUCKDB

    def __init__(self) -> None:
        self.con = duckdb.connect()
        self.con.execute("SET TimeZone = 'UTC'")  # the definition's instants are UTC

    def load_raw(self, lake: VersionedLake, keys: Sequence[str]) -> None:
        self.con.register("raw_lines", read_batches(lake, keys))

    def register(self, name: str, rows: list[tuple[Any, ...]], columns: dict[str, str]) -> None:
        schema = pa.schema([(c, _TYPES[t]) for c, t in columns.items()])
        records = [dict(zip(columns, row, strict=True)) for row in rows]
        self.con.register(name, pa.Table.from_pylist(records, schema))

    def create(self, name: str, sql: str) -> int:
        # The definition's SQL and stage names are constants of this package, never input.
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {sql}")
        [(count,)] = self.con.execute(f"SELECT COUNT(*) FROM {name}").fetchall()  # noqa: S608
        return int(count)

    def rows(self, sql: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.con.sql(sql).to_arrow_table().to_pylist()
        return rows

    def write_days(self, lake: VersionedLake, sql: str) -> list[str]:
        return write_days(lake, self.con.sql(sql).to_arrow_table())

    def close(self) -> None:
        self.con.close()


def transform(
    lake: VersionedLake,
    *,
    config: CurationConfig,
    now: datetime,
    full: bool = False,
    wait_seconds: float = 60.0,
    warn: Callable[[str], None] | None = None,
) -> RunReport:
    """One pipeline run on the DuckDB engine (what `nebula transform` does)."""
    engine = DuckDBEngine()
    try:
        return curate(
            lake,
            engine,
            config=config,
            now=now,
            full=full,
            wait_seconds=wait_seconds,
            warn=warn or log.warning,
        )
    finally:
        engine.close()


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
