"""The query engine interface shared by DuckDB (local lake) and Athena (cloud)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal, Protocol

from nebulastream.query.sql import Statement

Dialect = Literal["trino", "duckdb"]
EngineName = Literal["duckdb", "athena"]


class EngineError(RuntimeError):
    """The engine could not answer (unreachable, failed query); the message says what to do."""


@dataclass(frozen=True)
class Query:
    """One endpoint statement over `observations` and the partitions it may need.

    `days` bounds the UTC days of `ts` the answer can come from (curated `dt` partitions);
    raw partitions of those days +-1 (a fetch near midnight lands in the next day's folder)
    are read when they are on or after `raw_since` (not yet curated).
    """

    statement: Statement
    days: tuple[date, date]
    coins: tuple[str, ...] | None
    raw_since: date

    @property
    def raw_days(self) -> tuple[date, date]:
        one = timedelta(days=1)
        return max(self.days[0] - one, self.raw_since), self.days[1] + one


class QueryEngine(Protocol):
    """Runs the endpoint statements; rows come back as tuples in the statement's column order."""

    name: EngineName
    dialect: Dialect

    def execute(self, query: Query) -> list[tuple[Any, ...]]: ...

    def newest_day(self) -> date | None:
        """The newest day holding data when cheaply known (a local listing), else None."""
        ...

    def ping(self) -> None:
        """Raise EngineError when the engine or the lake cannot be reached."""
        ...

    def close(self) -> None: ...
