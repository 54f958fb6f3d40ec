"""The Glue tables (curated `prices`, raw `raw_prices` with Athena's "$path") as DuckDB views,
so the Trino text the Athena engine sends can be run on the same files."""

from __future__ import annotations

from pathlib import Path

import duckdb

from nebulastream.models import RAW_COLUMNS


def glue_views(root: Path) -> duckdb.DuckDBPyConnection:
    """The Glue tables as DuckDB views over the files under `root` (dt typed as a string)."""
    con = duckdb.connect()
    hive = "hive_partitioning = true, hive_types = {'dt': VARCHAR}"
    columns = "{" + ", ".join(f"'{c}': 'VARCHAR'" for c in RAW_COLUMNS) + "}"
    con.execute("CREATE SCHEMA nebula")
    con.execute(
        f"CREATE VIEW nebula.prices AS SELECT * FROM read_parquet('{root}/curated/*/*.parquet', "
        f"{hive})"
    )
    doubles = ", ".join(
        f"CAST({c} AS DOUBLE) AS {c}" if t == "double" else c for c, t in RAW_COLUMNS.items()
    )
    raw = f"{root}/raw/*/*.jsonl"
    # Athena's "$path" pseudo-column: the object's URI. A lake without raw batches reads none.
    con.execute(
        f'CREATE VIEW nebula.raw_prices AS SELECT {doubles}, dt, filename AS "$path" FROM '
        f"read_json('{raw}', format = 'newline_delimited', columns = {columns}, "
        f"filename = true, {hive})"
        if list(root.glob("raw/*/*.jsonl"))
        else f'CREATE VIEW nebula.raw_prices AS SELECT {doubles}, NULL AS dt, NULL AS "$path" '
        f"FROM (SELECT {', '.join(f'NULL AS {c}' for c in RAW_COLUMNS)}) WHERE false"
    )
    # Trino's array_join, the one function of the Trino text DuckDB names otherwise.
    con.execute("CREATE MACRO array_join(items, sep) AS array_to_string(items, sep)")
    return con
