"""The curated table as files: its Arrow schema, one Parquet file per day, readers per engine."""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from nebulastream.lake.layout import CURATED
from nebulastream.schema import CURATED_COLUMNS, PARTITION_COLUMN

_ARROW_TYPES = {
    "string": pa.string(),
    "double": pa.float64(),
    "bigint": pa.int64(),
    # No time zone: Parquet TIMESTAMP(MICROS, isAdjustedToUTC=false) holding UTC, which DuckDB
    # reads as TIMESTAMP (not TIMESTAMPTZ) and Athena/Spark as the same wall-clock instants.
    "timestamp": pa.timestamp("us"),
}
CURATED_SCHEMA = pa.schema([pa.field(n, _ARROW_TYPES[t]) for n, t in CURATED_COLUMNS.items()])
PARTITIONING = ds.partitioning(pa.schema([(PARTITION_COLUMN, pa.string())]), flavor="hive")


def write_day(table: pa.Table) -> bytes:
    """One curated day as Parquet bytes: snappy, one row group, rows in the order given."""
    sink = io.BytesIO()
    pq.write_table(
        table.select(list(CURATED_COLUMNS)).cast(CURATED_SCHEMA),
        sink,
        compression="snappy",
        row_group_size=max(1, table.num_rows),
    )
    return sink.getvalue()


def read_day(data: bytes) -> pa.Table:
    """A curated day file back as a table in CURATED_SCHEMA (whichever runner wrote it)."""
    return pq.read_table(io.BytesIO(data)).select(list(CURATED_COLUMNS)).cast(CURATED_SCHEMA)


def duckdb_source(lake_root: str | Path) -> str:
    """The curated table as a DuckDB table function over a local lake, `dt` pinned to VARCHAR.

    Without hive_types DuckDB would read dt as DATE while pyarrow, Spark (configured) and
    Athena see a string; pinning it keeps `WHERE dt = '2026-11-28'` alike everywhere.
    """
    pattern = f"{Path(lake_root)}/{CURATED}dt=*/*.parquet".replace("'", "''")
    return (
        f"read_parquet('{pattern}', hive_partitioning = true, "
        f"hive_types = {{'{PARTITION_COLUMN}': 'VARCHAR'}})"
    )


def arrow_dataset(lake_root: str | Path) -> ds.Dataset:
    """The curated table as a pyarrow dataset over a local lake, `dt` a string."""
    return ds.dataset(
        Path(lake_root) / CURATED,
        format="parquet",
        partitioning=PARTITIONING,
        exclude_invalid_files=False,
        ignore_prefixes=[".", "_"],
    )
