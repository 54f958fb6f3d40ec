"""The raw side of every Athena statement is bounded by curation's high-water mark: a query
reads the batches past the last curated slot, not days of raw, and answers the same."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlglot
from hypothesis import given
from hypothesis import strategies as st
from sqlglot import exp

from nebulastream.curation.definition import CurationConfig
from nebulastream.curation.duckdb_engine import transform
from nebulastream.lake.bound import CachedRawBound, RawBound, bound_of
from nebulastream.lake.layout import RAW_BOUND, spot_key
from nebulastream.lake.storage import LocalLake
from nebulastream.query import service, sql
from nebulastream.query.athena import AthenaEngine
from nebulastream.query.base import Query
from nebulastream.query.duckdb import DuckDBEngine
from nebulastream.query.service import Interval
from tests.integration.glue_duckdb import glue_views
from tests.lake_fixtures import observation, write_spot

START = datetime(2026, 11, 27, tzinfo=UTC)
RUN = datetime(2026, 11, 28, 11, 7, tzinfo=UTC)  # the hourly run, after the 11:05 slot
NOW = datetime(2026, 11, 28, 11, 22, tzinfo=UTC)
COINS = ("BTC", "ETH", "SOL")
LATE = 3  # batches fetched after the run: 11:10, 11:15, 11:20


def _spot(root: Path, slot: datetime) -> str:
    prices = {"BTC": 67000.0, "ETH": 3400.0, "SOL": 140.0}
    minutes = (slot - START).total_seconds() / 60
    batch = [
        observation(c, slot, p + minutes, fetched_at=slot + timedelta(seconds=3), slot=slot)
        for c, p in prices.items()
    ]
    return write_spot(root, slot, batch)


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A day and a half of 5-minute batches curated by an hourly run, then three more."""
    root = tmp_path_factory.mktemp("bounded-lake")
    slot = START
    while slot <= RUN - timedelta(minutes=2):
        _spot(root, slot)
        slot += timedelta(minutes=5)
    transform(LocalLake(root), config=CurationConfig(), now=RUN, wait_seconds=0)
    for _ in range(LATE):
        _spot(root, slot)
        slot += timedelta(minutes=5)
    return root


@pytest.fixture(scope="module")
def glue_on_duckdb(lake: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """The Glue tables as DuckDB views over the same files; "$path" is the file's path."""
    con = glue_views(lake)
    yield con
    con.close()


def _athena(lake: Path) -> AthenaEngine:
    return AthenaEngine(
        None,
        database="nebula",
        curated_table="prices",
        raw_table="raw_prices",
        reuse_minutes=5,
        raw_bound=CachedRawBound(LocalLake(lake), ttl_seconds=300),
        lake_uri=str(lake),
    )


class Recording:
    """DuckDBEngine (it reads every raw file it must, unbounded) keeping each Query."""

    name, dialect = "recording", "duckdb"

    def __init__(self, engine: DuckDBEngine) -> None:
        self.engine = engine
        self.seen: list[tuple[Query, list[tuple[Any, ...]]]] = []

    def execute(self, query: Query) -> list[tuple[Any, ...]]:
        rows = self.engine.execute(query)
        self.seen.append((query, rows))
        return rows

    def newest_day(self) -> date | None:
        return None

    def ping(self) -> None: ...

    def close(self) -> None: ...


@pytest.fixture(scope="module")
def recorded(lake: Path) -> list[tuple[Query, list[tuple[Any, ...]]]]:
    recording = Recording(DuckDBEngine(lake, recheck_seconds=0))
    service.latest(recording, list(COINS), NOW, 2)
    for interval in (Interval.M5, Interval.H1):
        end = service.next_slot(NOW, 300)
        service.history(recording, "BTC", end - timedelta(days=1), end, interval, NOW, 2)
    return recording.seen


def raw_files_read(con: duckdb.DuckDBPyConnection, engine: AthenaEngine, query: Query) -> int:
    """How many raw objects the statement's raw side opens: its scope over the raw table."""
    raw_days, skip = engine.raw_side(query)
    scope = sql.raw_scope(raw_days, '"$path"', skip)
    text = f'SELECT count(DISTINCT "$path") FROM nebula.raw_prices WHERE {scope.sql}'
    [(count,)] = con.execute(text, list(scope.params)).fetchall()
    return int(count)


def test_curation_records_its_bound_beside_the_manifest(lake: Path) -> None:
    bound = RawBound.from_json(LocalLake(lake).get(RAW_BOUND))
    assert bound.since == date(2026, 11, 28)
    assert bound.curated == (
        (
            "raw/dt=2026-11-28/coingecko-spot-",
            spot_key("coingecko", datetime(2026, 11, 28, 11, 5, tzinfo=UTC)),
        ),
    )


def test_bounded_statements_answer_as_the_unbounded_engine(
    lake: Path,
    recorded: list[tuple[Query, list[tuple[Any, ...]]]],
    glue_on_duckdb: duckdb.DuckDBPyConnection,
) -> None:
    engine = _athena(lake)
    newest = max(ts for q, rows in recorded[:1] for *_, ts, _source in rows)
    assert newest == datetime(2026, 11, 28, 11, 20)  # a batch fetched after the run is served
    for query, rows in recorded:
        full = engine.statement(query)
        assert glue_on_duckdb.execute(full.sql, list(full.params)).fetchall() == rows


def test_each_query_reads_only_the_batches_past_the_last_curated_slot(
    lake: Path,
    recorded: list[tuple[Query, list[tuple[Any, ...]]]],
    glue_on_duckdb: duckdb.DuckDBPyConnection,
    record_property: Any,
) -> None:
    bounded, unbounded = (
        _athena(lake),
        AthenaEngine(
            None, database="nebula", curated_table="prices", raw_table="raw_prices", reuse_minutes=5
        ),
    )
    counts = []
    for query, _ in recorded:
        counts.append(raw_files_read(glue_on_duckdb, bounded, query))
        assert raw_files_read(glue_on_duckdb, unbounded, query) > 300  # the look-back's days
    assert counts == [LATE] * len(recorded)
    record_property("report", f"raw files per bounded query: {counts}")


def test_bounded_statements_parse_as_trino_with_a_path_range_per_curated_series(
    lake: Path, recorded: list[tuple[Query, list[tuple[Any, ...]]]]
) -> None:
    engine = _athena(lake)
    for query, _ in recorded:
        text, parameters = engine.render(query)
        tree = sqlglot.parse_one(text, read="trino")
        assert text.count("?") == len(parameters)
        for cte in ("raw_batches", "raw_rows"):
            body = next(c for c in tree.find_all(exp.CTE) if c.alias == cte)
            ranges = [b for b in body.find_all(exp.Between) if isinstance(b.this, exp.Column)]
            assert {b.this.name for b in ranges} == {"dt", "$path"}
        assert "'2026-11-28'" in parameters  # the raw side starts at the bound's day
        assert "'2026-11-26'" not in parameters[:2]  # not at the look-back's


def test_without_a_bound_queries_fall_back_to_the_lookback(tmp_path: Path) -> None:
    engine = AthenaEngine(
        None,
        database="nebula",
        curated_table="prices",
        raw_table="raw_prices",
        reuse_minutes=5,
        raw_bound=CachedRawBound(LocalLake(tmp_path), ttl_seconds=300),
        lake_uri=str(tmp_path),
    )
    days = (date(2026, 11, 27), date(2026, 11, 28))
    query = Query(sql.coins(days), days, None, date(2026, 11, 26))
    assert engine.raw_side(query) == (
        (date(2026, 11, 26), min(date(2026, 11, 29), date.today())),
        (),
    )


def test_a_stale_bound_never_reads_past_the_lookback() -> None:
    stale = RawBound(date(2026, 11, 1), (("raw/dt=2026-11-01/coingecko-spot-", "x"),))
    engine = AthenaEngine(
        None,
        database="nebula",
        curated_table="prices",
        raw_table="raw_prices",
        reuse_minutes=5,
        raw_bound=lambda: stale,
        lake_uri="s3://bucket",
    )
    days = (date(2026, 11, 27), date(2026, 11, 28))
    query = Query(sql.coins(days), days, None, date(2026, 11, 26))
    assert engine.raw_side(query) == (
        (date(2026, 11, 26), min(date(2026, 11, 29), date.today())),
        (),
    )


def test_the_bound_is_read_once_per_fetch_interval(tmp_path: Path) -> None:
    lake = LocalLake(tmp_path)
    clock = [0.0]
    cache = CachedRawBound(lake, ttl_seconds=300, clock=lambda: clock[0])
    assert cache() is None
    lake.put(RAW_BOUND, RawBound(date(2026, 11, 28), ()).to_json(), "application/json")
    clock[0] = 299.0
    assert cache() is None  # still the cached answer
    clock[0] = 300.0
    assert cache() == RawBound(date(2026, 11, 28), ())


SLOTS = st.sets(st.integers(min_value=0, max_value=3 * 288 - 1), min_size=1, max_size=60)


@given(curated=SLOTS, later=SLOTS, run_after=st.integers(min_value=0, max_value=120))
def test_a_query_reads_exactly_the_batches_not_yet_curated(
    curated: set[int], later: set[int], run_after: int
) -> None:
    """Property: batches curated by a run are skipped; every batch fetched after the run (of a
    later slot) is read, whatever the partitions and day boundaries."""
    base = datetime(2026, 11, 26, tzinfo=UTC)

    def key(n: int) -> str:
        return spot_key("coingecko", base + timedelta(minutes=5 * n))

    newest = max(curated)
    run = base + timedelta(minutes=5 * newest + run_after)
    bound = bound_of([key(n) for n in curated], run)
    fresh = {n for n in later if n > newest} - curated
    con = duckdb.connect()
    con.execute('CREATE TABLE raw_files (dt VARCHAR, "$path" VARCHAR)')
    rows = [(key(n).split("/")[1][3:], "s3://b/" + key(n)) for n in curated | fresh]
    con.executemany("INSERT INTO raw_files VALUES (?, ?)", rows)
    days = (date(2026, 11, 25), date(2026, 11, 30))
    raw_days = (max(days[0], bound.since), days[1])
    scope = sql.raw_scope(raw_days, '"$path"', bound.skip_ranges("s3://b", raw_days))
    read = {
        path
        for (path,) in con.execute(
            f'SELECT "$path" FROM raw_files WHERE {scope.sql}', list(scope.params)
        ).fetchall()
    }
    assert read == {"s3://b/" + key(n) for n in fresh}
