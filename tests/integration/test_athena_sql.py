"""Every Athena query is valid Trino SQL (sqlglot) and, run on DuckDB, answers like DuckDBEngine."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlglot
from sqlglot import exp

from nebulastream.query import service
from nebulastream.query.athena import AthenaEngine
from nebulastream.query.base import Query
from nebulastream.query.duckdb import DuckDBEngine
from nebulastream.query.service import Interval
from tests.integration.api_lake import CURATED_ROWS, NOW, RAW_SPOT, SLOT
from tests.integration.glue_duckdb import glue_views
from tests.integration.test_api_sources import ROWS as SOURCE_ROWS
from tests.lake_fixtures import utc, write_curated, write_spot


class Recording:
    """Runs queries on DuckDBEngine and keeps each Query with its rows."""

    def __init__(self, engine: DuckDBEngine) -> None:
        self.engine = engine
        self.name = "recording"
        self.dialect = engine.dialect
        self.seen: list[tuple[Query, list[tuple[Any, ...]]]] = []

    def execute(self, query: Query) -> list[tuple[Any, ...]]:
        rows = self.engine.execute(query)
        self.seen.append((query, rows))
        return rows

    def newest_day(self) -> date | None:
        return None  # like Athena: the look-back starts at today

    def ping(self) -> None: ...

    def close(self) -> None: ...


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("athena-lake")
    # DuckDB's max_by skips NULLs where Trino's keeps them (sql.DIALECTS): keep bucket ends
    # non-null here so the Trino text run on DuckDB must match exactly.
    rows = [dataclasses.replace(r, market_cap_usd=r.market_cap_usd or 9.0e11) for r in CURATED_ROWS]
    write_curated(root, rows)
    write_spot(root, SLOT, RAW_SPOT)
    return root


@pytest.fixture(scope="module")
def recorded(lake: Path) -> list[tuple[Query, list[tuple[Any, ...]]]]:
    recording = Recording(DuckDBEngine(lake, recheck_seconds=0))
    service.latest(recording, ["BTC", "ETH", "SOL"], NOW, 2)
    for interval in Interval:
        start, end = utc("2026-11-26T22:00:00Z"), utc("2026-11-28T06:00:00Z")
        service.history(recording, "BTC", start, end, interval, NOW, 2)
        service.history(recording, "ETH", start, end, interval, NOW, 2)
    service.coin_summaries(recording, ["BTC", "ETH", "SOL"], NOW, 2)
    return recording.seen


@pytest.fixture(scope="module")
def glue_on_duckdb(lake: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    con = glue_views(lake)
    yield con
    con.close()


def _athena() -> AthenaEngine:
    return AthenaEngine(
        None, database="nebula", curated_table="prices", raw_table="raw_prices", reuse_minutes=5
    )


def test_every_endpoint_query_was_exercised(recorded: list[tuple[Query, list[Any]]]) -> None:
    kinds = {q.statement.sql.split()[1] for q, _ in recorded}
    assert kinds == {"coin,", "bucket,"}  # latest/coins and history
    # latest widens its look-back three times to find SOL's 58-day-old price
    assert len(recorded) == 4 + 2 * len(Interval) + 1
    assert sum(len(rows) for _, rows in recorded) > 40


def test_athena_queries_parse_as_trino_and_prune_by_partition(
    recorded: list[tuple[Query, list[Any]]],
) -> None:
    for query, _ in recorded:
        text, parameters = _athena().render(query)
        tree = sqlglot.parse_one(text, read="trino")
        tables = {t.name for t in tree.find_all(exp.Table)}
        assert {"prices", "raw_prices"} <= tables
        for cte in ("curated_rows", "raw_rows"):
            body = next(c for c in tree.find_all(exp.CTE) if c.alias == cte)
            wheres = list(body.find_all(exp.Where))
            assert wheres
            assert any(b.this.name == "dt" for w in wheres for b in w.find_all(exp.Between))
        assert text.count("?") == len(parameters)
        assert len(list(tree.find_all(exp.Placeholder))) == len(parameters)


def test_athena_queries_run_on_duckdb_give_the_engines_answers(
    recorded: list[tuple[Query, list[Any]]], glue_on_duckdb: duckdb.DuckDBPyConnection
) -> None:
    for query, rows in recorded:
        full = _athena().statement(query)
        assert glue_on_duckdb.execute(full.sql, list(full.params)).fetchall() == rows


def test_user_values_travel_only_as_parameters(recorded: list[tuple[Query, list[Any]]]) -> None:
    history = next(q for q, _ in recorded if "bucket" in q.statement.sql)
    text, parameters = _athena().render(history)
    assert "BTC" not in text
    assert "2026-11" not in text
    assert "'BTC'" in parameters
    assert "'2026-11-26 22:00:00.000'" in parameters


def test_a_one_day_history_reads_one_curated_partition() -> None:
    query = Query(
        service.sql.history(
            "ETH",
            utc("2026-11-27T00:00:00Z").replace(tzinfo=None),
            utc("2026-11-28T00:00:00Z").replace(tzinfo=None),
            3600,
            (date(2026, 11, 27), date(2026, 11, 27)),
            "trino",
        ),
        (date(2026, 11, 27), date(2026, 11, 27)),
        ("ETH",),
        date(2026, 11, 26),
    )
    _, parameters = _athena().render(query)
    # raw batches read (their curated rows give way), curated dt range, coin, raw dt range
    # (day-1 .. day+1 for fetches near midnight), coin...
    assert parameters[:8] == [
        "'2026-11-26'",
        "'2026-11-28'",
        "'2026-11-27'",
        "'2026-11-27'",
        "'ETH'",
        "'2026-11-26'",
        "'2026-11-28'",
        "'ETH'",
    ]


def test_duckdb_dialect_keeps_trinos_null_semantics_for_the_last_value() -> None:
    con = duckdb.connect()
    rows = "(VALUES (1.0, 1), (NULL, 2)) AS t(x, y)"
    trino_like = service.sql.DIALECTS["duckdb"]["max_by"]
    assert con.execute(f"SELECT {trino_like}(x, y) FROM {rows}").fetchall() == [(None,)]
    # ...which plain max_by on DuckDB would not give:
    assert con.execute(f"SELECT max_by(x, y) FROM {rows}").fetchall() == [(1.0,)]


@pytest.mark.parametrize("only", [None, "coinbase", "bitstamp"])
def test_trino_history_over_several_sources_answers_like_the_engine(
    tmp_path: Path, only: str | None
) -> None:
    write_curated(tmp_path, SOURCE_ROWS)
    engine = DuckDBEngine(tmp_path, recheck_seconds=0)
    con = glue_views(tmp_path)
    sources = service.parse_source(only, ["coinbase", "coingecko", "bitstamp"])
    start, end = utc("2026-11-27T00:00:00Z"), utc("2026-11-27T01:00:00Z")
    days = (date(2026, 11, 27), date(2026, 11, 27))
    try:
        for interval in (Interval.M5, Interval.H1):
            args = (start.replace(tzinfo=None), end.replace(tzinfo=None), interval.seconds, days)
            query = Query(
                service.sql.history("BTC", *args, "trino", sources), days, ("BTC",), days[0]
            )
            local = Query(
                service.sql.history("BTC", *args, "duckdb", sources), days, ("BTC",), days[0]
            )
            full = _athena().statement(query)
            rows = con.execute(full.sql, list(full.params)).fetchall()
            # market cap and 24 h volume (columns 6, 7) are left out: candles have none, and
            # DuckDB's max_by skips the NULL that Trino's returns (sql.DIALECTS)
            assert [r[:6] + r[8:] for r in rows] == [r[:6] + r[8:] for r in engine.execute(local)]
            assert rows
    finally:
        con.close()
        engine.close()
