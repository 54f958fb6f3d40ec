"""sql.slot_breaks on a tiny lake: a slot is present when ANY source has it (curated or raw),
gaps across midnight and between sources; the Athena text is Trino and answers alike."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import sqlglot

from nebulastream import completeness
from nebulastream.ingest import JSONL
from nebulastream.lake.layout import window_key
from nebulastream.lake.storage import LocalLake
from nebulastream.models import encode_batch
from nebulastream.query import service
from nebulastream.query.athena import AthenaEngine
from nebulastream.query.base import Query
from nebulastream.query.duckdb import DuckDBEngine
from nebulastream.query.sql import slot_breaks
from tests.integration.glue_duckdb import glue_views
from tests.lake_fixtures import Row, observation, utc, write_curated, write_spot

NOW = utc("2026-11-28T01:02:00Z")
T = completeness.seconds


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    root = tmp_path / "lake"
    # Curated yesterday: CoinGecko points and a Coinbase candle for the same slot 23:40.
    write_curated(
        root,
        [
            Row("BTC", utc("2026-11-27T23:30:05Z"), 100.0),
            Row("BTC", utc("2026-11-27T23:40:40Z"), 101.0),
            Row("BTC", utc("2026-11-27T23:40:00Z"), 101.5, source="coinbase", span_seconds=300),
            Row("BTC", utc("2026-11-27T23:50:00Z"), 102.0, source="coinbase", span_seconds=300),
            Row("ETH", utc("2026-11-27T23:55:00Z"), 3000.0),
        ],
    )
    # Raw today, not curated yet: 23:55 is missing for BTC; spot fetches at 00:00, 00:05 and
    # 00:15 (00:10 missing), and a Coinbase candle in 00:05 too.
    for slot in ("00:00:03", "00:05:04", "00:15:02"):
        moment = utc(f"2026-11-28T{slot}Z")
        write_spot(
            root,
            moment.replace(second=0),
            [
                observation(coin, moment, 200.0, fetched_at=moment, slot=moment.replace(second=0))
                for coin in ("BTC", "ETH")
            ],
        )
    start, end = utc("2026-11-28T00:00:00Z"), utc("2026-11-28T01:00:00Z")
    candle = dataclasses.replace(
        observation("BTC", utc("2026-11-28T00:05:00Z"), 201.0, fetched_at=NOW, slot=start),
        source="coinbase",
        open_usd=200.0,
        high_usd=202.0,
        low_usd=199.0,
        span_seconds=300,
    )
    LocalLake(root).put(
        window_key("coinbase", "candles", "BTC", start, end), encode_batch([candle]), JSONL
    )
    return root


def test_a_slot_is_present_when_any_source_has_it_and_gaps_cross_midnight(lake: Path) -> None:
    engine = DuckDBEngine(lake, recheck_seconds=0)
    try:
        found = service.coverage(engine, NOW, 2)
    finally:
        engine.close()

    btc, eth = found["BTC"], found["ETH"]
    assert (btc.first_slot, btc.last_slot) == (
        T(utc("2026-11-27T23:30:00Z")),
        T(utc("2026-11-28T00:15:00Z")),
    )
    # 23:30, 23:40 (CoinGecko and Coinbase: one slot), 23:50, 00:00, 00:05, 00:15
    assert btc.present == 6
    assert [(completeness.utc(a), completeness.utc(b)) for a, b in btc.holes] == [
        (utc("2026-11-27T23:35:00Z"), utc("2026-11-27T23:40:00Z")),
        (utc("2026-11-27T23:45:00Z"), utc("2026-11-27T23:50:00Z")),
        (utc("2026-11-27T23:55:00Z"), utc("2026-11-28T00:00:00Z")),  # the gap at midnight
        (utc("2026-11-28T00:10:00Z"), utc("2026-11-28T00:15:00Z")),
    ]
    assert (eth.first_slot, eth.present, len(eth.holes)) == (T(utc("2026-11-27T23:55:00Z")), 4, 1)
    end = completeness.lake_end(found.values())
    days = completeness.by_day(btc, end)  # type: ignore[arg-type]
    assert {d.isoformat(): (m.expected, m.present) for d, m in days.items()} == {
        "2026-11-27": (6, 3),  # from the first observation, 23:30
        "2026-11-28": (4, 3),  # up to the last fetched slot, 00:15
    }


def test_the_athena_text_is_trino_and_answers_like_duckdb(lake: Path) -> None:
    query_days = (NOW.date().replace(day=27), NOW.date().replace(day=29))
    statement = slot_breaks(query_days, 300)
    query = Query(statement, query_days, None, NOW.date().replace(day=26))
    engine = DuckDBEngine(lake, recheck_seconds=0)
    try:
        expected = engine.execute(query)
    finally:
        engine.close()
    athena = AthenaEngine(
        None, database="nebula", curated_table="prices", raw_table="raw_prices", reuse_minutes=5
    )
    full = athena.statement(query)
    sqlglot.parse_one(athena.render(query)[0], read="trino")
    con = glue_views(lake)
    assert con.execute(full.sql, list(full.params)).fetchall() == expected
    assert len(expected) == 5 + 2  # BTC: four breaks and its last slot; ETH: one and its last
