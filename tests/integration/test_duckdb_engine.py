"""DuckDBEngine keeps up with the lake: new batches, retried slots, transforms, and reads little."""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from nebulastream.query import service
from nebulastream.query.base import Query
from nebulastream.query.duckdb import DuckDBEngine
from nebulastream.query.service import Interval
from tests.integration.api_lake import FETCHED, NOW, SLOT, build_lake
from tests.lake_fixtures import Row, observation, utc, write_curated, write_spot


def _latest(engine: DuckDBEngine, coins: list[str], now: datetime = NOW) -> dict[str, float]:
    return {p.coin: p.price_usd for p in service.latest(engine, coins, now, 2)}


def test_a_new_batch_is_visible_on_the_next_request(tmp_path: Path) -> None:
    engine = DuckDBEngine(build_lake(tmp_path), recheck_seconds=0)
    assert _latest(engine, ["BTC"]) == {"BTC": 67187.3}
    slot = SLOT + timedelta(minutes=5)
    fetched = FETCHED + timedelta(minutes=5)
    write_spot(tmp_path, slot, [observation("BTC", slot, 67300.0, fetched_at=fetched, slot=slot)])
    assert _latest(engine, ["BTC"], NOW + timedelta(minutes=5)) == {"BTC": 67300.0}


def test_a_retried_slot_replaces_its_batch_rows(tmp_path: Path) -> None:
    engine = DuckDBEngine(build_lake(tmp_path), recheck_seconds=0)
    assert _latest(engine, ["BTC"]) == {"BTC": 67187.3}
    retry = FETCHED + timedelta(seconds=30)
    write_spot(
        tmp_path,
        SLOT,
        [observation("BTC", utc("2026-11-28T04:02:00Z"), 67000.0, fetched_at=retry, slot=SLOT)],
    )
    # The first attempt's row is gone from the lake, so it is gone from the answers too.
    assert _latest(engine, ["BTC"]) == {"BTC": 67000.0}


def test_a_transform_rewriting_a_day_is_picked_up(tmp_path: Path) -> None:
    engine = DuckDBEngine(build_lake(tmp_path), recheck_seconds=0)
    assert _latest(engine, ["ETH"]) == {"ETH": 3105.5}
    later = utc("2026-11-28T04:06:00Z")
    write_curated(
        tmp_path,
        [Row("ETH", utc("2026-11-28T04:00:10Z"), 3199.0, fetched_at=later)],
    )
    assert _latest(engine, ["ETH"]) == {"ETH": 3199.0}


def test_old_raw_already_curated_is_not_read_but_a_late_backfill_is(tmp_path: Path) -> None:
    write_curated(tmp_path, [Row("BTC", utc("2026-10-01T10:00:00Z"), 100.0)])
    old = utc("2026-10-01T10:05:00Z")
    write_spot(tmp_path, old, [observation("BTC", old, 101.0, fetched_at=old, slot=old)])
    raw_folder = tmp_path / "raw" / "dt=2026-10-01"
    curated_file = tmp_path / "curated" / "dt=2026-10-01" / "part-0.parquet"
    # The raw folder predates the last curated write: curation has seen it.
    stamp = curated_file.stat().st_mtime_ns - 10**9
    os.utime(raw_folder, ns=(stamp, stamp))
    engine = DuckDBEngine(tmp_path, recheck_seconds=0)
    one_day = (utc("2026-10-01T00:00:00Z"), utc("2026-10-02T00:00:00Z"))
    history = service.history(engine, "BTC", *one_day, Interval.D1, NOW, 2)
    assert [p.samples for p in history] == [1]
    # A batch landing after that write (a backfill) is read until the next transform.
    late = utc("2026-10-01T10:10:00Z")
    write_spot(tmp_path, late, [observation("BTC", late, 102.0, fetched_at=NOW, slot=late)])
    history = service.history(engine, "BTC", *one_day, Interval.D1, NOW, 2)
    assert [(p.samples, p.close) for p in history] == [(3, 102.0)]


def test_a_one_day_query_reads_that_day_only(tmp_path: Path) -> None:
    write_curated(
        tmp_path,
        [Row("BTC", utc(f"2026-06-{d:02d}T12:00:00Z"), 100.0 + d) for d in range(1, 31)],
    )
    engine = DuckDBEngine(tmp_path, recheck_seconds=0)
    day = (utc("2026-06-15T00:00:00Z"), utc("2026-06-16T00:00:00Z"))
    history = service.history(engine, "BTC", *day, Interval.H1, NOW, 2)
    assert [p.close for p in history] == [115.0]
    assert engine.loaded_days == ["2026-06-15"]


class Recording:
    """Wraps an engine and records the day range of every query it runs."""

    def __init__(self, engine: DuckDBEngine) -> None:
        self.engine = engine
        self.name = engine.name
        self.dialect = engine.dialect
        self.days: list[tuple[date, date]] = []

    def execute(self, query: Query) -> list[tuple[Any, ...]]:
        self.days.append(query.days)
        return self.engine.execute(query)

    def newest_day(self) -> date | None:
        return self.engine.newest_day()

    def ping(self) -> None:
        self.engine.ping()

    def close(self) -> None:
        self.engine.close()


def test_latest_reads_the_newest_days_and_widens_only_for_missing_coins(tmp_path: Path) -> None:
    recording = Recording(DuckDBEngine(build_lake(tmp_path), recheck_seconds=0))
    prices = service.latest(recording, ["BTC", "ETH"], NOW, 2)
    assert [p.coin for p in prices] == ["BTC", "ETH"]
    assert recording.days == [(date(2026, 11, 27), date(2026, 11, 29))]
    # Day 29 may hold rows from raw dt=2026-11-28 (a fetch late on the 28th).
    assert recording.engine.loaded_days == ["2026-11-27", "2026-11-28", "2026-11-29"]

    recording.days.clear()
    prices = service.latest(recording, ["BTC", "SOL"], NOW, 2)
    assert [p.coin for p in prices] == ["BTC", "SOL"]  # SOL's newest is 58 days old
    assert recording.days == [
        (date(2026, 11, 27), date(2026, 11, 29)),
        (date(2026, 11, 21), date(2026, 11, 29)),
        (date(2026, 10, 28), date(2026, 11, 29)),
        (date(2026, 7, 24), date(2026, 11, 29)),
    ]


def test_malformed_raw_lines_are_skipped_not_fatal(tmp_path: Path) -> None:
    build_lake(tmp_path)
    bad = tmp_path / "raw" / "dt=2026-11-28" / "coingecko-spot-20261128T0410Z.jsonl"
    bad.write_text('{"coin": "BTC", "price_usd": \n not json\n')
    engine = DuckDBEngine(tmp_path, recheck_seconds=0)
    assert _latest(engine, ["BTC"]) == {"BTC": 67187.3}
