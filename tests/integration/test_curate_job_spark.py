"""The Glue job under local PySpark 3.5 on the fixture lake: parity with `nebula transform`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from nebulastream.curation.definition import CurationConfig
from nebulastream.curation.duckdb_engine import transform
from nebulastream.curation.pipeline import curate
from nebulastream.curation.report import RunReport
from nebulastream.curation.spark_engine import (
    CURATED_SPARK_SCHEMA,
    SparkEngine,
    configure,
    lake_root_uri,
)
from nebulastream.lake.layout import candles_key, history_key
from nebulastream.lake.storage import LocalLake
from nebulastream.models import Observation, encode_batch
from tests.curation_support import (
    FIXTURE_NOW,
    OPS_NOW,
    Backfill,
    Fetch,
    Op,
    Transform,
    apply_ops,
    curated_rows,
    files_under,
    fixture_lake,
    raw_copy,
)

pyspark = pytest.importorskip("pyspark")
from pyspark.sql import SparkSession  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("spark")]
CONFIG = CurationConfig()
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def spark() -> Iterator[SparkSession]:
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    session = (
        SparkSession.builder.master("local[2]")
        .appName("nebula-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.driver.memory", "1g")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def spark_curate(
    spark: SparkSession, lake: LocalLake, *, full: bool = False, now: datetime = FIXTURE_NOW
) -> RunReport:
    engine = SparkEngine(spark)
    try:
        return curate(lake, engine, config=CONFIG, now=now, full=full, owner="spark tests")
    finally:
        engine.close()


def outputs(root: Path) -> tuple[object, dict[str, bytes]]:
    return curated_rows(root), files_under(root, "quarantine")


def test_both_runners_curate_the_fixtures_to_the_same_rows_quarantine_and_report(
    spark: SparkSession, tmp_path: Path
) -> None:
    by_duckdb = transform(fixture_lake(tmp_path / "duckdb"), config=CONFIG, now=FIXTURE_NOW)
    by_spark = spark_curate(spark, fixture_lake(tmp_path / "spark"))
    assert by_spark.rows_written == 41
    assert outputs(tmp_path / "spark") == outputs(tmp_path / "duckdb")
    assert by_spark.comparable() == by_duckdb.comparable()
    assert sorted(files_under(tmp_path / "spark", "curated")) == [
        "curated/dt=2026-11-26/prices.parquet",
        "curated/dt=2026-11-27/prices.parquet",
    ]  # one file per day, staging cleaned up
    assert not (tmp_path / "spark/curated/_staging").exists() or not any(
        (tmp_path / "spark/curated/_staging").rglob("*")
    )


def test_both_runners_merge_an_overlapping_backfill_alike(
    spark: SparkSession, tmp_path: Path
) -> None:
    start = datetime.fromisoformat("2026-11-27T00:00:00+00:00")
    points = [
        Observation(
            "BTC",
            "coingecko",
            96000.0 + m,
            None,
            None,
            None,
            start + timedelta(minutes=m, seconds=3),
            start + timedelta(minutes=59),
            start,
            "{}",
        )
        for m in (0, 5, 30)
    ]
    key = history_key("coingecko", "BTC", start, start + timedelta(hours=1))
    later = FIXTURE_NOW + timedelta(minutes=1)
    duck_lake, spark_lake = fixture_lake(tmp_path / "duckdb"), fixture_lake(tmp_path / "spark")
    transform(duck_lake, config=CONFIG, now=FIXTURE_NOW)
    spark_curate(spark, spark_lake)
    for root in (tmp_path / "duckdb", tmp_path / "spark"):
        (root / key).write_bytes(encode_batch(points))
    by_duckdb = transform(duck_lake, config=CONFIG, now=later)
    by_spark = spark_curate(spark, spark_lake, now=later)
    assert by_spark.batches_changed == by_duckdb.batches_changed == 1
    assert by_spark.duplicates_dropped == by_duckdb.duplicates_dropped == 3
    assert by_spark.comparable() == by_duckdb.comparable()
    assert outputs(tmp_path / "spark") == outputs(tmp_path / "duckdb")


def test_a_full_spark_rerun_gives_identical_curated_rows(
    spark: SparkSession, tmp_path: Path
) -> None:
    lake = fixture_lake(tmp_path / "lake")
    spark_curate(spark, lake)
    before = outputs(tmp_path / "lake")
    report = spark_curate(spark, lake, full=True, now=FIXTURE_NOW + timedelta(minutes=1))
    assert report.mode == "full"
    assert outputs(tmp_path / "lake") == before


def test_spark_reads_duckdb_curated_files_as_the_same_instants_with_dt_a_string(
    spark: SparkSession, tmp_path: Path
) -> None:
    root = tmp_path / "lake"
    transform(fixture_lake(root), config=CONFIG, now=FIXTURE_NOW)
    configure(spark)
    frame = spark.read.schema(CURATED_SPARK_SCHEMA.add("dt", "string")).parquet(
        lake_root_uri(LocalLake(root)) + "curated"
    )
    assert dict(frame.dtypes)["dt"] == "string"
    assert dict(frame.dtypes)["ts"] == "timestamp_ntz"
    rows = sorted((r["coin"], r["ts"], r["price_usd"], r["dt"]) for r in frame.collect())
    assert rows == sorted((r["coin"], r["ts"], r["price_usd"], r["dt"]) for r in curated_rows(root))
    inferred = spark.read.parquet(lake_root_uri(LocalLake(root)) + "curated")
    assert dict(inferred.dtypes)["dt"] == "string"  # partition type inference is off


def test_the_job_script_runs_under_plain_pyspark_with_the_manifest_as_bookmark(
    tmp_path: Path,
) -> None:
    root = tmp_path / "lake"
    fixture_lake(root)
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "PYTHONPATH": str(REPO)}
    command = [sys.executable, str(REPO / "glue/curate_job.py"), "--lake_uri", str(root)]
    first = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=240, check=False
    )
    assert first.returncode == 0, first.stderr[-2000:]
    assert "incremental curation (spark) of 12 raw batches" in first.stdout, first.stderr[-2000:]
    assert "rows written 41" in first.stdout
    second = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=240, check=False
    )
    assert second.returncode == 0, second.stderr[-2000:]
    assert "of 0 raw batches" in second.stdout
    reports = sorted((root / "reports").glob("curation-*-spark.json"))
    assert len(reports) == 2
    assert json.loads(reports[0].read_text())["rows_written"] == 41


# Fixed sequences for the exactly-once property on Spark (the DuckDB engine runs generated
# ones, tests/integration/test_curation_exactly_once.py): re-fetched slots, a stale price
# shadowed and uncovered, overlapping backfills across midnight, a rejected line fixed.
SEQUENCES: dict[str, list[Op]] = {
    "refetch-and-stale": [
        Fetch(0, (("BTC", 95000.0, 0), ("ETH", 3400.0, 0))),
        Fetch(1, (("BTC", 95000.0, 1),)),
        Transform(),
        Fetch(1, (("BTC", 95100.0, 0), ("ETH", -1.0, 0))),
        Fetch(1, (("ETH", 3410.0, 0),)),
        Transform(),
    ],
    "backfills-over-midnight": [
        Backfill("BTC", 1, 1, ((0, 95000.0), (11, 96000.0))),
        Fetch(35, (("BTC", 95100.0, 0),)),
        Transform(),
        Backfill("BTC", 2, 2, ((0, 95100.0), (1, -1.0), (5, 96000.0))),
        Backfill("BTC", 2, 1, ((0, 96000.0),)),
        Fetch(24, (("BTC", 95000.0, 1), ("ETH", 3400.0, 0))),
        Transform(),
    ],
}


@pytest.mark.parametrize("name", sorted(SEQUENCES))
def test_spark_incremental_runs_equal_a_full_rebuild_by_duckdb(
    spark: SparkSession, tmp_path: Path, name: str
) -> None:
    root = tmp_path / "lake"
    apply_ops(LocalLake(root), SEQUENCES[name], lambda lake: spark_curate(spark, lake, now=OPS_NOW))
    reference = raw_copy(root, tmp_path / "full")
    transform(reference, config=CONFIG, now=OPS_NOW, full=True)
    assert outputs(root) == outputs(tmp_path / "full")
    assert len(curated_rows(root)) >= 4


def test_both_engines_curate_candles_alike_quarantine_bad_ones_and_flag_deviations(
    spark: SparkSession, tmp_path: Path
) -> None:
    start = datetime.fromisoformat("2026-11-27T00:00:00+00:00")
    fetched = start + timedelta(hours=1)

    def candle(minute: int, o: float, h: float, low: float, c: float) -> Observation:
        at = start + timedelta(minutes=minute)
        return Observation(
            "BTC", "coinbase", c, None, None, None, at, fetched, at, "[]",
            open_usd=o, high_usd=h, low_usd=low, span_seconds=300, volume_usd=12.5 * c,
        )  # fmt: skip

    candles = [
        candle(0, 95000.0, 95100.0, 94900.0, 95050.0),
        candle(5, 95050.0, 95000.0, 95100.0, 95060.0),  # low above high: quarantined
        candle(10, 95060.0, 99000.0, 95000.0, 98500.0),  # 3.6 % above CoinGecko's 00:10 price
    ]
    key = candles_key("coinbase", "BTC", start, start + timedelta(days=1))
    roots = {name: tmp_path / name for name in ("duckdb", "spark")}
    for root in roots.values():
        fixture_lake(root)
        (root / key).write_bytes(encode_batch(candles))
    by_duckdb = transform(LocalLake(roots["duckdb"]), config=CONFIG, now=FIXTURE_NOW)
    by_spark = spark_curate(spark, LocalLake(roots["spark"]))
    assert by_spark.comparable() == by_duckdb.comparable()
    assert outputs(roots["spark"]) == outputs(roots["duckdb"])
    assert by_duckdb.quarantined_by_rule["candle_consistent"] == 1
    assert by_duckdb.deviations["count"] >= 1
    rows = [r for r in curated_rows(roots["spark"]) if r["source"] == "coinbase"]
    assert [(r["open_usd"], r["high_usd"], r["low_usd"], r["price_usd"]) for r in rows] == [
        (95000.0, 95100.0, 94900.0, 95050.0),
        (95060.0, 99000.0, 95000.0, 98500.0),
    ]
    assert {r["span_seconds"] for r in rows} == {300}
    points = [r for r in curated_rows(roots["spark"]) if r["source"] == "coingecko"]
    assert {r["span_seconds"] for r in points} == {0}
    assert all(r["open_usd"] is None for r in points)
