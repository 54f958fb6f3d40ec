"""`nebula transform` end to end on a real lake: raw fixtures -> Parquet, quarantine, report."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import duckdb
import pyarrow.parquet as pq
import pytest
from moto import mock_aws
from typer.testing import CliRunner

from nebulastream.cli import app
from nebulastream.curation.definition import CurationConfig
from nebulastream.curation.duckdb_engine import transform
from nebulastream.curation.parquet import arrow_dataset, duckdb_source
from nebulastream.lake.layout import MANIFEST, history_key, spot_key
from nebulastream.lake.storage import LocalLake, S3Lake
from nebulastream.models import Observation, encode_batch
from tests.curation_support import (
    FIXTURE_LAKE,
    FIXTURE_NOW,
    curated_rows,
    files_under,
    fixture_lake,
    raw_line,
)

CONFIG = CurationConfig()


def curate(lake: LocalLake, *, full: bool = False, now: datetime = FIXTURE_NOW):  # type: ignore[no-untyped-def]
    return transform(lake, config=CONFIG, now=now, full=full)


def test_fixture_batches_become_one_parquet_file_per_day(tmp_path: Path) -> None:
    lake = fixture_lake(tmp_path / "lake")
    report = curate(lake)
    assert sorted(files_under(tmp_path / "lake", "curated")) == [
        "curated/dt=2026-11-26/prices.parquet",
        "curated/dt=2026-11-27/prices.parquet",
    ]
    assert report.rows_read == 47
    assert report.rows_accepted == 42
    assert report.duplicates_dropped == 1
    assert report.rows_written == 41
    assert report.quarantined_by_rule == {
        "well_formed": 1,
        "required_fields": 1,
        "price_finite_positive": 1,
        "ts_not_future": 1,
        "ts_plausible_for_batch": 1,
        "slot_on_batch_day": 0,
    }


def test_curated_files_are_snappy_naive_utc_micros_sorted_by_coin_and_time(tmp_path: Path) -> None:
    lake = fixture_lake(tmp_path / "lake")
    curate(lake)
    meta = pq.ParquetFile(tmp_path / "lake/curated/dt=2026-11-27/prices.parquet")
    assert meta.metadata.num_row_groups == 1
    assert meta.metadata.row_group(0).column(0).compression == "SNAPPY"
    ts = meta.schema.column(1)
    assert ts.name == "ts"
    logical = json.loads(ts.logical_type.to_json())
    assert (logical["isAdjustedToUTC"], logical["timeUnit"]) == (False, "microseconds")
    table = meta.read()
    keys = list(zip(table["coin"].to_pylist(), table["ts"].to_pylist(), strict=True))
    assert keys == sorted(keys)


def test_pyarrow_and_duckdb_read_the_same_instants_with_dt_as_a_string(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    curate(fixture_lake(root))
    by_arrow = arrow_dataset(root).to_table()
    assert str(by_arrow.schema.field("dt").type) == "string"
    con = duckdb.connect()
    described = con.execute(f"DESCRIBE SELECT * FROM {duckdb_source(root)}").fetchall()
    types = {row[0]: row[1] for row in described}
    assert types["ts"] == "TIMESTAMP"  # not TIMESTAMPTZ: bucketing stays cheap
    assert types["dt"] == "VARCHAR"
    by_duckdb = con.execute(
        f"SELECT coin, ts, price_usd, dt FROM {duckdb_source(root)} ORDER BY dt, coin, ts"
    ).fetchall()
    assert by_duckdb == [(r["coin"], r["ts"], r["price_usd"], r["dt"]) for r in curated_rows(root)]
    first = con.execute(
        f"SELECT epoch_us(ts) FROM {duckdb_source(root)} WHERE coin = 'BTC' ORDER BY ts LIMIT 1"
    ).fetchone()
    assert first == (int(datetime(2026, 11, 27, 0, 0, 3, tzinfo=UTC).timestamp() * 1_000_000),)


def test_the_latest_fetch_wins_among_duplicates(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    curate(fixture_lake(root))
    btc_0015 = [
        r
        for r in curated_rows(root)
        if r["coin"] == "BTC" and r["ts"] == datetime(2026, 11, 27, 0, 15, 3)
    ]
    assert len(btc_0015) == 1
    assert btc_0015[0]["market_cap_usd"] == 1.111e12  # from the 00:20 batch, fetched later
    assert btc_0015[0]["fetched_at"] == datetime(2026, 11, 27, 0, 20, 5, 123000)


def test_a_negative_price_goes_to_quarantine_with_its_rule_and_raw_key_not_to_curated(
    tmp_path: Path,
) -> None:
    root = tmp_path / "lake"
    curate(fixture_lake(root))
    assert all(r["price_usd"] > 0 for r in curated_rows(root))
    raw_key = spot_key("coingecko", datetime(2026, 11, 27, 0, 25, tzinfo=UTC))
    body = (root / "quarantine" / raw_key.removeprefix("raw/")).read_text()
    [record] = [json.loads(line) for line in body.splitlines()]
    assert record["rule"] == "price_finite_positive"
    assert record["raw_key"] == raw_key
    assert (record["coin"], record["price_usd"]) == ("ETH", -3400.0)


def test_the_report_lists_spikes_kept_and_gaps_as_time_ranges(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    report = curate(fixture_lake(root))
    [spike] = report.spikes["points"]
    assert (spike["coin"], spike["ts"]) == ("BTC", "2026-11-27T00:50:03.000Z")
    assert any(r["price_usd"] == spike["price_usd"] for r in curated_rows(root))  # kept
    btc = report.gaps["by_coin"]["BTC"]
    assert btc["ranges"][1:] == [
        ["2026-11-27T00:20:00.000Z", "2026-11-27T00:25:00.000Z"],  # stale repeat of 00:15
        ["2026-11-27T00:30:00.000Z", "2026-11-27T00:35:00.000Z"],  # no batch
        ["2026-11-27T00:40:00.000Z", "2026-11-27T00:45:00.000Z"],  # quarantined
    ]
    stored = sorted((root / "reports").glob("curation-*-duckdb.json"))
    assert len(stored) == 1
    assert json.loads(stored[0].read_text())["gaps"] == report.gaps


def test_a_second_run_with_nothing_new_reads_nothing_and_changes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    lake = fixture_lake(root)
    curate(lake)
    before = files_under(root, "curated") | files_under(root, "quarantine")
    again = curate(lake, now=FIXTURE_NOW + timedelta(minutes=1))
    assert again.batches_read == 0
    assert again.rows_read == 0
    assert files_under(root, "curated") | files_under(root, "quarantine") == before


def test_full_reprocessing_yields_identical_curated_and_quarantine_files(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    lake = fixture_lake(root)
    curate(lake)
    before = files_under(root, "curated") | files_under(root, "quarantine")
    report = curate(lake, full=True, now=FIXTURE_NOW + timedelta(minutes=1))
    assert report.batches_read == 12
    assert files_under(root, "curated") | files_under(root, "quarantine") == before


def test_an_overlapping_backfill_after_a_run_adds_no_duplicates(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    lake = fixture_lake(root)
    curate(lake)
    before = curated_rows(root)
    # A backfill of BTC over the same hour, re-serving three observations already curated
    # (same instants, fetched later) and one the spot fetches missed (00:30).
    start = datetime(2026, 11, 27, tzinfo=UTC)
    fetched = datetime(2026, 11, 27, 0, 59, tzinfo=UTC)
    points = [
        Observation(
            "BTC",
            "coingecko",
            96000.0 + m,
            None,
            None,
            None,
            start + timedelta(minutes=m, seconds=3),
            fetched,
            start,
            "{}",
        )
        for m in (0, 5, 10, 30)
    ]
    key = history_key("coingecko", "BTC", start, start + timedelta(hours=1))
    (root / key).write_bytes(encode_batch(points))
    report = curate(lake, now=FIXTURE_NOW + timedelta(minutes=1))
    after = curated_rows(root)
    assert report.batches_changed == 1
    # The day is rebuilt from every raw batch feeding it: the backfill's three re-served
    # points, and the fixture's own duplicate on that day once more.
    assert report.duplicates_dropped == 4
    assert len(after) == len(before) + 1
    keys = [(r["coin"], r["ts"], r["source"]) for r in after]
    assert len(keys) == len(set(keys))
    replaced = {r["ts"]: r["price_usd"] for r in after if r["coin"] == "BTC"}
    assert replaced[datetime(2026, 11, 27, 0, 5, 3)] == 96005.0  # the later fetch won
    assert report.partitions_written == ["2026-11-27"]  # only the touched day was rewritten


def test_a_late_batch_rewrites_its_day_in_one_atomic_replace(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    lake = fixture_lake(root)
    curate(lake)
    day_file = root / "curated/dt=2026-11-26/prices.parquet"
    inode = os.stat(day_file).st_ino
    late = root / spot_key("coingecko", datetime(2026, 11, 26, 12, 0, tzinfo=UTC))
    late.parent.mkdir(parents=True, exist_ok=True)
    late.write_bytes(
        raw_line(
            observed_at="2026-11-26T12:00:03.000Z",
            fetched_at="2026-11-26T12:00:05.000Z",
            slot="2026-11-26T12:00:00.000Z",
        )
    )
    curate(lake, now=FIXTURE_NOW + timedelta(minutes=1))
    # A new file was renamed over the old one: a reader holds either the old or the new day.
    assert os.stat(day_file).st_ino != inode
    assert sorted(p.name for p in day_file.parent.iterdir()) == ["prices.parquet"]
    assert pq.read_table(day_file).num_rows == 25


def test_a_retried_batch_is_curated_again_and_its_old_quarantine_goes(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    lake = fixture_lake(root)
    curate(lake)
    key = spot_key("coingecko", datetime(2026, 11, 27, 0, 25, tzinfo=UTC))
    quarantined = root / "quarantine" / key.removeprefix("raw/")
    assert quarantined.exists()
    # The fetcher retried the slot and overwrote the batch, this time with a good ETH price.
    (root / key).write_bytes(
        raw_line(
            coin="ETH",
            price_usd=3410.0,
            observed_at="2026-11-27T00:25:04.000Z",
            fetched_at="2026-11-27T00:26:00.000Z",
            slot="2026-11-27T00:25:00.000Z",
        )
    )
    report = curate(lake, now=FIXTURE_NOW + timedelta(minutes=1))
    assert report.batches_changed == 1
    assert not quarantined.exists()
    assert any(r["price_usd"] == 3410.0 for r in curated_rows(root))


def test_an_empty_lake_curates_nothing_without_error(tmp_path: Path) -> None:
    report = curate(LocalLake(tmp_path / "empty"))
    assert (report.batches_read, report.rows_written) == (0, 0)


def test_a_corrupt_manifest_says_how_to_recover(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    lake = fixture_lake(root)
    (root / MANIFEST).parent.mkdir(parents=True)
    (root / MANIFEST).write_text("{not json")
    with pytest.raises(Exception, match="--full"):
        curate(lake)


def test_nebula_transform_prints_the_summary_and_where_the_report_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "lake"
    fixture_lake(root)
    monkeypatch.setenv("NEBULA_LAKE_URI", str(root))
    result = CliRunner().invoke(app, ["transform"])
    assert result.exit_code == 0, result.output
    assert "rows read 47, accepted 42, quarantined 5" in result.output
    assert "duplicates dropped 1, rows written 41" in result.output
    assert "gaps BTC:" in result.output
    [printed] = [line for line in result.output.splitlines() if line.startswith("report: ")]
    assert Path(printed.removeprefix("report: ")).is_file()
    again = CliRunner().invoke(app, ["transform", "--full"])
    assert again.exit_code == 0, again.output
    assert "full curation (duckdb) of 12 raw batches" in again.output


@mock_aws
def test_transform_runs_on_an_s3_lake(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    client = boto3.client("s3")
    client.create_bucket(Bucket="lake")
    lake = S3Lake("lake", "nebula", client)
    for path in sorted(FIXTURE_LAKE.rglob("*.jsonl")):
        lake.put(
            path.relative_to(FIXTURE_LAKE).as_posix(), path.read_bytes(), "application/x-ndjson"
        )
    report = transform(lake, config=CONFIG, now=FIXTURE_NOW)
    assert report.rows_written == 41
    keys = [
        o["Key"]
        for o in client.list_objects_v2(Bucket="lake", Prefix="nebula/curated/")["Contents"]
    ]
    assert keys == [
        "nebula/curated/dt=2026-11-26/prices.parquet",
        "nebula/curated/dt=2026-11-27/prices.parquet",
    ]
    assert transform(lake, config=CONFIG, now=FIXTURE_NOW).batches_read == 0
