"""DuckDBEngine: the API's queries over a local lake folder (curated Parquet + fresh raw lines).

Reading a year of daily Parquet files per request costs 50-90 ms in file opens alone, ten
times the aggregation itself, so the engine keeps an in-memory table `observations` holding
the deduplicated rows (sql.OBSERVATIONS_CTE over the files) of the days it has been asked for.
A day is (re)loaded when its inputs change: its curated files (name, size, mtime) or the raw
folders it reads (the folder's mtime moves whenever LocalLake adds or replaces a batch, which
it does by rename). The lake listing is re-taken at most every `recheck_seconds`.

Raw partitions are read when they may hold batches that curation has not seen: those of the
last NEBULA_RAW_LOOKBACK_DAYS days, a day with no readable curated file, and a day whose raw
folder changed after its curated file was written (each day on its own, so a crashed first
curation never hides the days it did not reach). A curated file that does not read as Parquet
is left out with a warning, and its day is served from raw until curation rebuilds it.
"""

from __future__ import annotations

import logging
import math
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq

from nebulastream.lake.layout import CURATED, RAW
from nebulastream.models import RAW_COLUMNS
from nebulastream.query import sql
from nebulastream.query.base import Dialect, EngineError, EngineName, Query
from nebulastream.schema import CURATED_COLUMNS, PARTITION_COLUMN

log = logging.getLogger(__name__)
DUCK_TYPES = {  # the schema type names as DuckDB spells them
    "string": "VARCHAR",
    "double": "DOUBLE",
    "bigint": "BIGINT",
    "timestamp": "TIMESTAMP",
}
_DAY_FOLDER = re.compile(rf"^{PARTITION_COLUMN}=(\d{{4}}-\d{{2}}-\d{{2}})$")
_COLUMNS = ", ".join(sql.COLUMNS)
_HIVE = f"hive_partitioning = true, hive_types = {{'{PARTITION_COLUMN}': VARCHAR}}"
HIVE_OPTIONS = _HIVE  # read_parquet/read_json options: `dt` from the folder name, as a string
# How every DuckDB reader here parses raw batches: typed columns, a malformed line skipped
# (curation quarantines it with a reason). Also used by the read-only views (query/views.py).
RAW_JSON_OPTIONS = (
    "format = 'newline_delimited', columns = {"
    + ", ".join(f"'{c}': '{DUCK_TYPES[t]}'" for c, t in RAW_COLUMNS.items())
    + f"}}, ignore_errors = true, {_HIVE}"
)

FileSig = tuple[str, int, int]  # name, size, mtime_ns
DaySig = tuple[tuple[FileSig, ...], tuple[tuple[str, int], ...]]  # curated files, raw folders
_EMPTY: DaySig = ((), ())
_REUSED_RESULTS = 256


@dataclass
class _Snapshot:
    """One listing of the lake: curated files per day, raw folder mtimes per day."""

    curated: dict[str, tuple[FileSig, ...]]  # readable curated files per day
    raw: dict[str, int]
    days: list[str] = field(default_factory=list)  # sorted days any input may touch


def _shift(day: str, days: int) -> str:
    return (date.fromisoformat(day) + timedelta(days=days)).isoformat()


class DuckDBEngine:
    """Answers `Query`s over the lake folder at `root` with an in-process DuckDB."""

    name: EngineName = "duckdb"
    dialect: Dialect = "duckdb"

    def __init__(
        self, root: str | Path, *, recheck_seconds: float = 1.0, reuse_results: bool = True
    ) -> None:
        self.root = Path(root).expanduser().resolve()
        self.recheck_seconds = recheck_seconds
        self.reuse_results = reuse_results
        self._con = duckdb.connect(":memory:")
        table = ", ".join(f"{c} {DUCK_TYPES[t]}" for c, t in CURATED_COLUMNS.items())
        raw = ", ".join(f"{c} {DUCK_TYPES[t]}" for c, t in RAW_COLUMNS.items())
        self._con.execute(f"CREATE TABLE observations ({table}, {PARTITION_COLUMN} VARCHAR)")
        self._con.execute(f"CREATE TABLE stage_curated ({table}, {PARTITION_COLUMN} VARCHAR)")
        self._con.execute(
            f"CREATE TABLE stage_raw ({raw}, {PARTITION_COLUMN} VARCHAR, raw_key VARCHAR)"
        )
        # Parsed raw lines per batch file, so a new fetch costs reading one file, not the day's.
        self._con.execute(
            f"CREATE TABLE raw_lines ({raw}, {PARTITION_COLUMN} VARCHAR, filename VARCHAR)"
        )
        self._con.execute("SET enable_progress_bar = false")
        self._raw_synced: dict[str, dict[str, tuple[int, int]]] = {}  # day -> file -> size, mtime
        self._lock = threading.Lock()
        self._cursors: dict[int, duckdb.DuckDBPyConnection] = {}
        self._loaded: dict[str, DaySig] = {}
        self._readable: dict[tuple[str, FileSig], bool] = {}  # curated file -> reads as Parquet
        self._snapshot: _Snapshot | None = None
        self._snapshot_at = -math.inf
        self._verified: set[tuple[date, date, date]] = set()
        # Like Athena's result reuse, but exact: answers of identical statements are kept
        # until any day is reloaded (the only way the table's content changes).
        self._results: OrderedDict[tuple[str, tuple[Any, ...]], list[tuple[Any, ...]]] = (
            OrderedDict()
        )
        self._generation = 0

    # -- the engine interface -------------------------------------------------------------

    def execute(self, query: Query) -> list[tuple[Any, ...]]:
        generation = self._ensure(query)
        statement = query.statement
        key = (statement.sql, statement.params)
        if self.reuse_results:
            with self._lock:
                rows = self._results.get(key)
                if rows is not None:
                    self._results.move_to_end(key)
                    return rows
        try:
            rows = self._cursor().execute(statement.sql, list(statement.params)).fetchall()
        except duckdb.Error as error:
            raise EngineError(f"DuckDB could not run the query: {error}") from error
        if self.reuse_results:
            with self._lock:
                if generation == self._generation:
                    self._results[key] = rows
                    if len(self._results) > _REUSED_RESULTS:
                        self._results.popitem(last=False)
        return rows

    def newest_day(self) -> date | None:
        with self._lock:
            snapshot = self._current_snapshot()
        newest = max([*snapshot.curated, *snapshot.raw], default=None)
        return date.fromisoformat(newest) if newest else None

    def ping(self) -> None:
        if self.root.exists() and not (self.root.is_dir() and os.access(self.root, os.R_OK)):
            raise EngineError(
                f"The lake at {self.root} is not a readable folder: "
                "point NEBULA_LAKE_URI at the lake folder."
            )
        self._cursor().execute("SELECT 1").fetchall()

    def close(self) -> None:
        with self._lock:
            for cursor in self._cursors.values():
                cursor.close()
            self._cursors.clear()
            self._con.close()

    def raw_days_read(self, raw_since: date) -> list[str]:
        """The raw folders ('YYYY-MM-DD') a query over every day reads: those not yet curated."""
        with self._lock:
            snapshot = self._current_snapshot()
        since = raw_since.isoformat()
        return sorted(d for d in snapshot.raw if self._raw_read(snapshot, d, since))

    @property
    def loaded_days(self) -> list[str]:
        """The days held in memory (for tests and diagnostics: what a query had to read)."""
        with self._lock:
            return sorted(d for d, signature in self._loaded.items() if signature != _EMPTY)

    # -- keeping `observations` in step with the files ------------------------------------

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        # One connection object is not safe across threads; a cursor per thread shares the DB.
        # (Kept by thread id, not in a threading.local, so close() can release them all.)
        thread = threading.get_ident()
        cursor = self._cursors.get(thread)
        if cursor is None:
            with self._lock:
                cursor = self._cursors[thread] = self._con.cursor()
        return cursor

    def _current_snapshot(self) -> _Snapshot:
        now = time.monotonic()
        if self._snapshot is None or now - self._snapshot_at >= self.recheck_seconds:
            snapshot = self._scan()
            if self._snapshot is None or (snapshot.curated, snapshot.raw) != (
                self._snapshot.curated,
                self._snapshot.raw,
            ):
                self._snapshot = snapshot
                self._verified.clear()
            self._snapshot_at = now
        return self._snapshot

    def _day_folders(self, prefix: str) -> Iterator[os.DirEntry[str]]:
        try:
            entries = list(os.scandir(self.root / prefix))
        except FileNotFoundError:
            return
        for entry in entries:
            if _DAY_FOLDER.match(entry.name) and entry.is_dir():
                yield entry

    def _scan(self) -> _Snapshot:
        curated: dict[str, tuple[FileSig, ...]] = {}
        checked, self._readable = self._readable, {}
        for folder in self._day_folders(CURATED):
            files = []
            for entry in os.scandir(folder.path):
                if entry.name.endswith(".parquet") and not entry.name.startswith("."):
                    stat = entry.stat()
                    sig = (entry.name, stat.st_size, stat.st_mtime_ns)
                    if self._is_readable(entry.path, sig, checked):
                        files.append(sig)
            if files:
                curated[folder.name[3:]] = tuple(sorted(files))
        raw = {folder.name[3:]: folder.stat().st_mtime_ns for folder in self._day_folders(RAW)}
        days = set(curated)
        for day in raw:
            days.update((_shift(day, -1), day, _shift(day, 1)))
        return _Snapshot(curated, raw, sorted(days))

    def _is_readable(
        self, path: str, sig: FileSig, checked: dict[tuple[str, FileSig], bool]
    ) -> bool:
        """Whether a curated file's footer reads (checked once per name, size and mtime;
        `checked` holds the previous scan's verdicts, the cache keeps only current files)."""
        known = checked.get((path, sig))
        if known is None:
            try:
                pq.read_metadata(path)
                known = True
            except Exception as error:  # pyarrow raises several types for damaged files
                log.warning(
                    "%s is not a readable Parquet file (%s); serving its day from raw until "
                    "curation rebuilds it",
                    path,
                    type(error).__name__,
                )
                known = False
            self._readable[(path, sig)] = known
        return known

    def _raw_read(self, snapshot: _Snapshot, day: str, raw_since: str) -> bool:
        files = snapshot.curated.get(day)
        if day >= raw_since or not files:
            return True
        return snapshot.raw[day] > max(mtime for _, _, mtime in files)

    def _signature(self, snapshot: _Snapshot, day: str, raw_since: str) -> DaySig:
        raws = tuple(
            (d, snapshot.raw[d])
            for d in (_shift(day, -1), day, _shift(day, 1))
            if d in snapshot.raw and self._raw_read(snapshot, d, raw_since)
        )
        return snapshot.curated.get(day, ()), raws

    def _ensure(self, query: Query) -> int:
        """Load what the query needs; returns the table's generation it can be answered at."""
        with self._lock:
            snapshot = self._current_snapshot()
            key = (*query.days, query.raw_since)
            if key in self._verified:
                return self._generation
            lo, hi, since = (d.isoformat() for d in key)
            candidates = {d for d in snapshot.days if lo <= d <= hi}
            candidates.update(d for d in self._loaded if lo <= d <= hi)
            stale = []
            for day in sorted(candidates):
                signature = self._signature(snapshot, day, since)
                if self._loaded.get(day, _EMPTY) != signature:
                    stale.append((day, signature))
            run: list[tuple[str, DaySig]] = []
            for item in stale:
                if run and item[0] != _shift(run[-1][0], 1):
                    self._load(run)
                    run = []
                run.append(item)
            if run:
                self._load(run)
            self._verified.add(key)
            return self._generation

    def _load(self, days: list[tuple[str, DaySig]]) -> None:
        """Replace the rows of a run of consecutive days with their deduplicated inputs."""
        first, last = days[0][0], days[-1][0]
        curated_files = [
            str(self.root / CURATED / f"{PARTITION_COLUMN}={day}" / name)
            for day, (files, _) in days
            for name, _, _ in files
        ]
        raw_days = sorted({d for _, (_, raws) in days for d, _ in raws})
        cte = sql.observations_cte(
            "stage_curated",
            "stage_raw",
            curated_days=(date.fromisoformat(first), date.fromisoformat(last)),
            raw_days=(date.fromisoformat(_shift(first, -1)), date.fromisoformat(_shift(last, 1))),
            coins=None,
        )
        con = self._con
        try:
            con.execute("BEGIN TRANSACTION")
            con.execute("DELETE FROM stage_curated")
            con.execute("DELETE FROM stage_raw")
            if curated_files:
                con.execute(
                    # union_by_name: files curated before raw_key existed read it as NULL.
                    f"INSERT INTO stage_curated SELECT {_COLUMNS}, {PARTITION_COLUMN} "
                    f"FROM read_parquet(?, {_HIVE}, union_by_name = true)",
                    [curated_files],
                )
            for day in raw_days:
                self._sync_raw(day)
            if raw_days:
                con.execute(
                    f"INSERT INTO stage_raw BY NAME SELECT * EXCLUDE (filename), "
                    f"{sql.raw_key_from('filename')} AS raw_key FROM raw_lines "
                    f"WHERE list_contains(?, {PARTITION_COLUMN})",
                    [raw_days],
                )
            con.execute(
                f"DELETE FROM observations WHERE {PARTITION_COLUMN} BETWEEN ? AND ?", [first, last]
            )
            con.execute(
                f"INSERT INTO observations SELECT {_COLUMNS}, {PARTITION_COLUMN} FROM ("
                f"{cte.sql} SELECT {_COLUMNS}, {PARTITION_COLUMN} FROM observations "
                f"WHERE {PARTITION_COLUMN} BETWEEN ? AND ? "
                f"ORDER BY {PARTITION_COLUMN}, coin, ts) AS fresh",
                [*cte.params, first, last],
            )
            con.execute("COMMIT")
        except duckdb.Error as error:
            con.execute("ROLLBACK")
            self._snapshot = None  # files moved under us (a transform): list again next time
            self._raw_synced.clear()  # the rollback undid raw_lines changes too
            con.execute("DELETE FROM raw_lines")
            raise EngineError(
                f"DuckDB could not read the lake at {self.root} ({error}); "
                "if a transform is rewriting it, retry in a moment."
            ) from error
        for day, signature in days:
            self._loaded[day] = signature
        self._generation += 1
        self._results.clear()

    def _sync_raw(self, day: str) -> None:
        """Bring raw_lines for one raw folder in step with its files (inside _load's transaction).

        Batches are replaced by rename (LocalLake), so a changed file has a new mtime.
        """
        folder = self.root / RAW / f"{PARTITION_COLUMN}={day}"
        try:
            entries = list(os.scandir(folder))
        except FileNotFoundError:
            entries = []
        # LocalLake's in-flight temp files start with a dot.
        files = {
            e.path: (stat.st_size, stat.st_mtime_ns)
            for e in entries
            if e.name.endswith(".jsonl") and not e.name.startswith(".")
            for stat in (e.stat(),)
        }
        known = self._raw_synced.get(day, {})
        stale = [path for path, sig in known.items() if files.get(path) != sig]
        fresh = [path for path, sig in files.items() if known.get(path) != sig]
        if stale:
            self._con.execute("DELETE FROM raw_lines WHERE list_contains(?, filename)", [stale])
        if fresh:
            # A malformed raw line is skipped here; curation quarantines it with a reason.
            self._con.execute(
                "INSERT INTO raw_lines BY NAME SELECT * FROM read_json(?, "
                f"{RAW_JSON_OPTIONS}, filename = true)",
                [sorted(fresh)],
            )
        self._raw_synced[day] = files
