"""Read-only SQL over a local lake folder: the views `prices`, `raw` and `quarantine` on DuckDB.

`nebula sql` and the DuckDB recipe in docs/analysis.md run on these views:

    prices      curated rows plus not-yet-curated raw rows, deduplicated by the query layer's
                own `observations` SQL (query/sql.py), over the raw folders DuckDBEngine reads:
                the rows the API answers from
    raw         every raw line, typed as the engines type it (malformed lines skipped)
    quarantine  every row curation rejected, with the rule that rejected it

Read-only is enforced twice. Only a single SELECT statement is accepted (DuckDB's own
parser says what a statement is), so COPY, CREATE, INSERT, ATTACH, SET, PRAGMA, INSTALL and
EXPLAIN ANALYZE (which runs its statement) never execute. Below that, the connection has
file-system access switched off except for reading the lake's data folders
(`enable_external_access = false` plus `allowed_directories`), and its configuration is
locked, so no statement can reach another file or undo the setting.
"""

from __future__ import annotations

import csv
import glob
import io
import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

import duckdb

from nebulastream.curation.definition import RAW_FIELDS
from nebulastream.lake.layout import CURATED, QUARANTINE, RAW
from nebulastream.models import RAW_COLUMNS
from nebulastream.query import sql
from nebulastream.query.athena import literal
from nebulastream.query.duckdb import DUCK_TYPES, HIVE_OPTIONS, RAW_JSON_OPTIONS, DuckDBEngine
from nebulastream.schema import CURATED_COLUMNS, PARTITION_COLUMN
from nebulastream.timeutil import EARLIEST_DAY, iso_z

_LAST_DAY = date(9999, 12, 31)
_DAY_GLOB = f"{PARTITION_COLUMN}=*"

# Quarantine records (curation/report.py): the rule, the raw batch, the raw fields, and the
# text of a line that was not JSON. Follows the curation definition's field list.
QUARANTINE_COLUMNS: dict[str, str] = {
    "rule": "VARCHAR",
    "raw_key": "VARCHAR",
    **{f: DUCK_TYPES[RAW_COLUMNS[f]] if f in RAW_COLUMNS else "VARCHAR" for f in RAW_FIELDS},
    "corrupt_record": "VARCHAR",
}

DESCRIPTIONS: dict[str, str] = {
    "prices": "curated and not-yet-curated observations, deduplicated as the API serves them",
    "raw": "every raw line as fetched (typed; malformed lines left out)",
    "quarantine": "rows curation rejected, with the rule that rejected them",
}


class SqlRefused(ValueError):
    """A statement that is not a single SELECT; the message says what is allowed."""


class SqlFailed(ValueError):
    """DuckDB could not run the query; the message is DuckDB's, on one line."""


@dataclass(frozen=True)
class ViewInfo:
    name: str
    description: str
    columns: list[tuple[str, str]]  # name, DuckDB type


@dataclass(frozen=True)
class Result:
    """A query's answer as an Arrow table (columns typed by DuckDB)."""

    table: Any  # pyarrow.Table

    @property
    def columns(self) -> list[str]:
        return list(self.table.column_names)

    def rows(self) -> list[tuple[Any, ...]]:
        columns = [self.table.column(i).to_pylist() for i in range(self.table.num_columns)]
        return list(zip(*columns, strict=True))


def inline(statement: sql.Statement) -> str:
    """The statement with its values written in as SQL literals (a view cannot take `?`).

    Only for values this module produces (day bounds); user input never comes through here.
    """
    pieces = statement.sql.split("?")
    if len(pieces) != len(statement.params) + 1:
        raise ValueError("placeholder count does not match the parameters")
    out = [pieces[0]]
    for value, piece in zip(statement.params, pieces[1:], strict=True):
        out += [literal(value), piece]
    return "".join(out)


def _empty(columns: dict[str, str]) -> str:
    fields = ", ".join(f"CAST(NULL AS {kind}) AS {name}" for name, kind in columns.items())
    return f"(SELECT {fields}, CAST(NULL AS VARCHAR) AS {PARTITION_COLUMN} WHERE false)"


def _string_list(paths: list[str]) -> str:
    return "[" + ", ".join(literal(p) for p in paths) + "]"


def _one_line(error: Exception) -> str:
    # DuckDB's messages carry a caret diagram on later lines; the first line says it all.
    text = str(error).strip()
    return " ".join(text.splitlines()[0].split()) if text else type(error).__name__


class LakeViews:
    """An in-memory DuckDB with the lake's views, that can read the lake and change nothing."""

    def __init__(self, root: str | Path, *, raw_since: date) -> None:
        self.root = Path(root).expanduser().resolve()
        if not self.root.is_dir():
            raise FileNotFoundError(
                f"There is no lake at {self.root}: run `nebula fetch` (or `make run`) first, "
                "or point NEBULA_LAKE_URI at the lake folder."
            )
        # The raw folders the API's DuckDB engine would read with these settings.
        engine = DuckDBEngine(self.root)
        try:
            raw_days = engine.raw_days_read(raw_since)
        finally:
            engine.close()
        self._con = duckdb.connect(":memory:")
        try:
            self._lock_down()
            self._create_views(raw_days)
        except duckdb.Error as error:
            self._con.close()
            message = f"DuckDB could not read the lake at {self.root}: {_one_line(error)}"
            raise SqlFailed(message) from error

    # -- set-up ---------------------------------------------------------------------------

    def _lock_down(self) -> None:
        folders = [f"{self.root / prefix}/" for prefix in (CURATED, RAW, QUARANTINE)]
        con = self._con
        con.execute("SET enable_progress_bar = false")
        con.execute("SET autoinstall_known_extensions = false")
        con.execute("SET autoload_known_extensions = false")
        con.execute("SET allowed_directories = ?", [folders])
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")

    def _any(self, prefix: str, pattern: str) -> bool:
        return next(glob.iglob(str(self.root / prefix / _DAY_GLOB / pattern)), None) is not None

    def _create_views(self, raw_days: list[str]) -> None:
        curated_types = {c: DUCK_TYPES[t] for c, t in CURATED_COLUMNS.items()}
        columns = ", ".join(CURATED_COLUMNS)
        curated_glob = str(self.root / CURATED / _DAY_GLOB / "*.parquet")
        curated = (
            f"(SELECT {columns}, {PARTITION_COLUMN} FROM read_parquet("
            f"{literal(curated_glob)}, {HIVE_OPTIONS}, union_by_name = true))"
            if self._any(CURATED, "*.parquet")
            else _empty(curated_types)
        )
        raw_types = {c: DUCK_TYPES[t] for c, t in RAW_COLUMNS.items()}
        raw_glob = str(self.root / RAW / _DAY_GLOB / "*.jsonl")
        raw_all = (
            f"(SELECT * FROM read_json({literal(raw_glob)}, {RAW_JSON_OPTIONS}))"
            if self._any(RAW, "*.jsonl")
            else _empty(raw_types)
        )
        fresh = [
            path
            for day in raw_days
            for path in sorted(
                glob.glob(str(self.root / RAW / f"{PARTITION_COLUMN}={day}" / "*.jsonl"))
            )
        ]
        # The batch key of each fresh raw line: its curated rows give way to it (raw_key).
        raw_fresh = (
            f"(SELECT *, {sql.raw_key_from('filename')} AS raw_key FROM read_json("
            f"{_string_list(fresh)}, {RAW_JSON_OPTIONS}, filename = true))"
            if fresh
            else _empty({**raw_types, "raw_key": "VARCHAR"})
        )
        everything = (EARLIEST_DAY, _LAST_DAY)
        cte = sql.observations_cte(
            f"{curated} AS curated_files",
            f"{raw_fresh} AS raw_files",
            curated_days=everything,
            raw_days=everything,
            coins=None,
        )
        prices = f"{inline(cte)}SELECT {columns}, {PARTITION_COLUMN} FROM observations"
        quarantine_glob = str(self.root / QUARANTINE / _DAY_GLOB / "*.jsonl")
        quarantine_options = (
            "format = 'newline_delimited', columns = {"
            + ", ".join(f"'{c}': '{t}'" for c, t in QUARANTINE_COLUMNS.items())
            + f"}}, {HIVE_OPTIONS}"
        )
        quarantine = (
            f"SELECT * FROM read_json({literal(quarantine_glob)}, {quarantine_options})"
            if self._any(QUARANTINE, "*.jsonl")
            else f"SELECT * FROM {_empty(QUARANTINE_COLUMNS)} AS nothing"
        )
        self._pending = {
            "prices": prices,
            "raw": f"SELECT * FROM {raw_all} AS raw_lines",
            "quarantine": quarantine,
        }

    def _ensure(self, text: str | None) -> None:
        """Create the views `text` names (all for None). Creating `raw` binds read_json to
        every raw file, about a second for a year of 5-minute batches: only when asked for."""
        for name in list(self._pending):
            if text is None or re.search(rf"\b{name}\b", text, flags=re.IGNORECASE):
                self._con.execute(f"CREATE VIEW {name} AS {self._pending.pop(name)}")

    # -- use ------------------------------------------------------------------------------

    def views(self) -> list[ViewInfo]:
        """Each view with its columns, in DESCRIPTIONS order."""
        self._ensure(None)
        found = []
        for name, description in DESCRIPTIONS.items():
            described = self._con.execute(f"DESCRIBE {name}").fetchall()
            found.append(ViewInfo(name, description, [(row[0], row[1]) for row in described]))
        return found

    def query(self, text: str, params: list[Any] | None = None) -> Result:
        """Run one SELECT (WITH, FROM-first, DESCRIBE, SUMMARIZE and VALUES are SELECTs too);
        `params` fill its `?` placeholders."""
        check_read_only(text)
        try:
            self._ensure(text)
            relation = self._con.sql(text, params=params)
            if relation is None:  # unreachable after the check; keeps the type honest
                raise SqlRefused("the statement returned no rows to show.")
            return Result(relation.to_arrow_table())
        except duckdb.Error as error:
            raise SqlFailed(_one_line(error)) from error

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> LakeViews:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def check_read_only(text: str) -> None:
    """Refuse anything but exactly one SELECT statement, before DuckDB runs any of it."""
    try:
        statements = duckdb.extract_statements(text)
    except duckdb.Error as error:
        raise SqlFailed(_one_line(error)) from error
    if len(statements) != 1:
        raise SqlRefused(
            f"give exactly one SELECT statement (got {len(statements)}): "
            "the lake is read-only here."
        )
    kind = statements[0].type
    if kind != duckdb.StatementType.SELECT:
        raise SqlRefused(
            f"only SELECT queries run here, not {kind.name}: the lake is read-only "
            "(write results with --format csv|json|parquet --output FILE)."
        )


TextFormat = Literal["csv", "json"]


def _plain(value: Any) -> Any:
    """A JSON-able form: instants as RFC 3339 UTC (naive lake times hold UTC), NaN/inf as null."""
    if isinstance(value, datetime):
        return iso_z(value if value.tzinfo else value.replace(tzinfo=UTC))
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, int | float | str | bool) or value is None:
        return value
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)


def _cell(value: Any) -> str:
    plain = _plain(value)
    if plain is None:
        return ""
    if isinstance(plain, float):
        return repr(plain)
    if isinstance(plain, list | dict):
        return json.dumps(plain, separators=(",", ":"))
    return str(plain)


def text(result: Result, file_format: TextFormat) -> str:
    """CSV with a header row, or JSON Lines (one object per row)."""
    buffer = io.StringIO()
    if file_format == "csv":
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(result.columns)
        writer.writerows([_cell(v) for v in row] for row in result.rows())
    else:
        for row in result.rows():
            record = {c: _plain(v) for c, v in zip(result.columns, row, strict=True)}
            buffer.write(json.dumps(record, separators=(",", ":"), allow_nan=False) + "\n")
    return buffer.getvalue()


def write(result: Result, path: Path, file_format: Literal["csv", "json", "parquet"]) -> int:
    """Write the result to `path` (never inside the lake: the caller checks); returns rows."""
    tmp = path.with_name(f".{path.name}.partial")
    try:
        if file_format == "parquet":
            import pyarrow.parquet as pq

            pq.write_table(result.table, tmp)
        else:
            tmp.write_text(text(result, file_format), encoding="utf-8", newline="")
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return int(result.table.num_rows)
