"""AthenaEngine: the API's queries on Athena (Trino SQL) over the Glue tables, via pyathena.

Every value reaches Athena as an execution parameter (`ExecutionParameters`, the `?` of a
prepared statement), never inside the SQL text. Athena takes each parameter as the text of a
SQL literal, so strings are sent quoted: `'BTC'`, `'2026-11-28'`.

Identical queries within one fetch slot reuse Athena's previous result of that slot
(ResultReuseConfiguration, aged back to the slot's start), so a busy dashboard costs one scan
per query and slot, and the API's Cache-Control (api/headers.py) lets clients keep the
answer until the next slot.

The raw side of every statement reads only the batches past the last curated slot: the
partitions from the curation's bound (lake/bound.py, one small GET per fetch interval) minus
its curated key ranges, by "$path". NEBULA_RAW_LOOKBACK_DAYS stays the floor: when curation
has failed for longer, raw older than the look-back is not read.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from nebulastream.lake.bound import RawBound
from nebulastream.query import sql
from nebulastream.query.base import Dialect, EngineError, EngineName, Query
from nebulastream.settings import Settings

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def literal(value: sql.SqlValue) -> str:
    """The SQL literal text Athena expects for one execution parameter."""
    if isinstance(value, bool):
        raise TypeError("booleans are not query parameters here")
    if isinstance(value, int | float):
        return repr(value)
    return "'" + value.replace("'", "''") + "'"


def quote_identifier(name: str) -> str:
    if not _IDENTIFIER.match(name):
        raise ValueError(
            f"{name!r} is not a plain Glue name: use letters, digits and underscores "
            "in NEBULA_GLUE_DATABASE, NEBULA_CURATED_TABLE and NEBULA_RAW_TABLE."
        )
    return f'"{name}"'


class AthenaEngine:
    """Runs `Query`s on Athena; `connection` is a pyathena Connection built at the edge."""

    name: EngineName = "athena"
    dialect: Dialect = "trino"

    def __init__(
        self,
        connection: Any,
        *,
        database: str,
        curated_table: str,
        raw_table: str,
        reuse_minutes: int,
        reuse_results: bool = True,
        raw_bound: Callable[[], RawBound | None] = lambda: None,
        lake_uri: str = "",
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.connection = connection
        # Off for alert evaluation right after a fetch: a reused answer predates the batch.
        self.reuse_results = reuse_results
        self.clock = clock
        self.raw_bound = raw_bound
        self.lake_uri = lake_uri
        db = quote_identifier(database)
        self.curated = f"{db}.{quote_identifier(curated_table)}"
        self.raw = f"{db}.{quote_identifier(raw_table)}"
        self.reuse_minutes = max(1, reuse_minutes)

    @classmethod
    def connect(
        cls,
        settings: Settings,
        *,
        reuse_results: bool = True,
        raw_bound: Callable[[], RawBound | None] = lambda: None,
        **connect_kwargs: Any,
    ) -> AthenaEngine:
        """A pyathena connection on the configured workgroup (it holds the result location)."""
        from pyathena import connect

        connect_kwargs.setdefault("poll_interval", 0.2)
        connection = connect(
            work_group=settings.athena_workgroup,
            schema_name=settings.glue_database,
            **connect_kwargs,
        )
        return cls(
            connection,
            database=settings.glue_database,
            curated_table=settings.curated_table,
            raw_table=settings.raw_table,
            reuse_minutes=settings.fetch_interval_seconds // 60,
            reuse_results=reuse_results,
            raw_bound=raw_bound,
            lake_uri=settings.lake_uri,
        )

    def statement(self, query: Query) -> sql.Statement:
        """The full Trino SQL (observations CTE + endpoint statement) and its values."""
        raw_days, skip = self.raw_side(query)
        # No partition after today exists yet: Athena would still list its folder.
        curated_days = (query.days[0], min(query.days[1], self.clock().date()))
        cte = sql.observations_cte(
            self.curated,
            self.raw,
            curated_days=curated_days,
            raw_days=raw_days,
            coins=query.coins,
            raw_key=sql.raw_key_from('"$path"'),
            raw_path='"$path"',
            raw_skip=skip,
        )
        return sql.Statement(cte.sql + query.statement.sql, cte.params + query.statement.params)

    def raw_side(self, query: Query) -> tuple[tuple[date, date], tuple[tuple[str, str], ...]]:
        """The raw partitions the query reads and the curated key ranges ("$path") it skips."""
        raw_days = (query.raw_days[0], min(query.raw_days[1], self.clock().date()))
        bound = self.raw_bound()
        if bound is None:  # no bound yet, or unreadable: the look-back alone
            return raw_days, ()
        raw_days = (max(raw_days[0], bound.since), raw_days[1])
        return raw_days, bound.skip_ranges(self.lake_uri, raw_days)

    def render(self, query: Query) -> tuple[str, list[str]]:
        """What goes to StartQueryExecution: the text, and ExecutionParameters as literals."""
        full = self.statement(query)
        return full.sql, [literal(v) for v in full.params]

    def execute(self, query: Query) -> list[tuple[Any, ...]]:
        text, parameters = self.render(query)
        return self._run(text, parameters)

    def _run(self, text: str, parameters: list[str] | None) -> list[tuple[Any, ...]]:
        from pyathena.error import Error as AthenaError

        try:
            cursor = self.connection.cursor()
            cursor.execute(
                text,
                parameters,
                paramstyle="qmark",
                result_reuse_enable=self.reuse_results,
                result_reuse_minutes=self.reuse_minutes_now(),
            )
            return list(cursor.fetchall())
        except AthenaError as error:
            raise EngineError(
                f"Athena could not run the query ({error}); check the workgroup "
                "(NEBULA_ATHENA_WORKGROUP) and that the Glue tables exist."
            ) from error
        except Exception as error:  # botocore: credentials, network, throttling
            raise EngineError(f"Athena is unreachable ({error}); retry in a moment.") from error

    def newest_day(self) -> date | None:
        return None  # unknown without a query: the look-back starts at today

    def reuse_minutes_now(self) -> int:
        """Reuse only results computed since the current slot began (Athena counts whole
        minutes, at least 1): a repeated query is answered from the result of this slot, never
        from one that predates its batch. Same-text queries span slots (latest has no slot in
        its text), so a flat five minutes could serve a result from before the last fetch."""
        slot = self.reuse_minutes * 60
        elapsed = self.clock().timestamp() % slot
        return max(1, min(self.reuse_minutes, int(elapsed // 60)))

    def ping(self) -> None:
        self._run("SELECT 1", None)

    def close(self) -> None:
        self.connection.close()
