"""The hourly curate Lambda under moto: raw batches in S3, curated Parquet out, and the same
manifest and lease as the nightly Glue job (both run nebulastream.curation.pipeline.curate)."""

from __future__ import annotations

import importlib
import io
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import pyarrow.parquet as pq
import pytest

from nebulastream.curation.definition import CurationConfig
from nebulastream.curation.duckdb_engine import DuckDBEngine
from nebulastream.curation.lease import hold_lease
from nebulastream.curation.pipeline import curate, load_manifest
from nebulastream.ingest import JSONL
from nebulastream.lake.layout import LEASE, MANIFEST, curated_key, spot_key
from nebulastream.lake.storage import S3Lake
from nebulastream.models import encode_batch
from tests.integration.aws_lake import BUCKET, mocked_bucket
from tests.lake_fixtures import observation

DAY = datetime(2026, 11, 28, tzinfo=UTC)
COINS = {"BTC": 67000.0, "ETH": 3400.0, "SOL": 140.0}


class Context:
    function_name = "nebula-stream-test-curate"
    memory_limit_in_mb = 1024
    invoked_function_arn = (
        "arn:aws:lambda:us-east-1:123456789012:function:nebula-stream-test-curate"
    )
    aws_request_id = "d1f0c2a4-7b61-11e6-9a41-93e8deadbeef"


@pytest.fixture
def s3() -> Iterator[Any]:
    yield from mocked_bucket()


@pytest.fixture
def curate_handler(s3: Any, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """handlers.curate imported as Lambda would, inside the mock."""
    monkeypatch.setenv("NEBULA_LAKE_URI", f"s3://{BUCKET}")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "nebula-curate")
    import handlers.curate

    module = importlib.reload(handlers.curate)
    module.logger.registered_handler.stream = io.StringIO()
    return module


def put_day(lake: S3Lake, day: datetime, slots: int = 288) -> list[str]:
    """`slots` 5-minute spot batches of three coins, as the fetch Lambda writes them."""
    keys = []
    for n in range(slots):
        slot = day + timedelta(minutes=5 * n)
        fetched = slot + timedelta(seconds=2)
        batch = [
            observation(coin, slot, price * (1 + n / 10_000), fetched_at=fetched, slot=slot)
            for coin, price in COINS.items()
        ]
        key = spot_key("coingecko", slot)
        lake.put(key, encode_batch(batch), JSONL)
        keys.append(key)
    return keys


def test_the_hourly_run_curates_a_day_of_batches_and_records_the_manifest(
    curate_handler: ModuleType, s3: Any, record_property: Any
) -> None:
    lake = S3Lake(BUCKET, "", s3)
    keys = put_day(lake, DAY)
    curate_handler.utcnow = lambda: DAY + timedelta(days=1, minutes=7)

    started = time.perf_counter()
    result = curate_handler.handler({"time": "2026-11-29T00:07:00Z"}, Context())
    seconds = time.perf_counter() - started

    assert result["status"] == "curated"
    assert result["batches_changed"] == len(keys)
    table = pq.read_table(io.BytesIO(lake.get(curated_key("2026-11-28"))))
    assert table.num_rows == len(keys) * len(COINS)
    assert set(table["raw_key"].to_pylist()) == set(keys)
    manifest = load_manifest(lake)
    assert manifest is not None
    assert set(manifest.batches) == set(keys)
    assert "2026-11-28" in manifest.days
    assert not lake.exists(LEASE)  # released
    record_property(
        "report", f"curate Lambda under moto: a day of {len(keys)} batches in {seconds:.2f} s"
    )


def test_the_next_run_and_the_glue_job_read_the_same_bookmark(
    curate_handler: ModuleType, s3: Any
) -> None:
    lake = S3Lake(BUCKET, "", s3)
    put_day(lake, DAY, slots=12)
    curate_handler.utcnow = lambda: DAY + timedelta(hours=1, minutes=7)
    curate_handler.handler({}, Context())
    curated = lake.get(curated_key("2026-11-28"))

    # The nightly job runs the same pipeline on the same lake: nothing is left for it to do.
    report = curate(
        lake,
        DuckDBEngine(),
        config=CurationConfig(),
        now=DAY + timedelta(hours=2),
        owner="glue job nebula-stream-test-curate run jr_1",
        wait_seconds=0,
    )
    assert (report.batches_changed, report.batches_removed, report.repaired) == (0, 0, [])
    assert lake.get(curated_key("2026-11-28")) == curated

    # One more batch: the next hourly run curates just that, on top of the shared manifest.
    later = DAY + timedelta(hours=1)
    lake.put(
        spot_key("coingecko", later),
        encode_batch([observation("BTC", later, 67100.0, fetched_at=later, slot=later)]),
        JSONL,
    )
    result = curate_handler.handler({}, Context())
    assert result["batches_changed"] == 1
    table = pq.read_table(io.BytesIO(lake.get(curated_key("2026-11-28"))))
    assert table.num_rows == 12 * len(COINS) + 1


def test_a_held_lease_makes_the_run_exit_cleanly_without_writing(
    curate_handler: ModuleType, s3: Any
) -> None:
    lake = S3Lake(BUCKET, "", s3)
    put_day(lake, DAY, slots=3)
    with hold_lease(lake, owner="glue job nebula-stream-test-curate run jr_1", wait_seconds=0):
        lease = lake.get(LEASE)
        result = curate_handler.handler({}, Context())
        assert lake.get(LEASE) == lease  # the Glue job's lease is untouched

    assert result["status"] == "skipped"
    assert "glue job nebula-stream-test-curate run jr_1" in str(result["reason"])
    written = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    assert all(key.startswith("raw/") for key in written), written
    assert not lake.exists(MANIFEST)
    logs = curate_handler.logger.registered_handler.stream.getvalue().splitlines()
    skipped = [json.loads(x) for x in logs if x.startswith("{") and "skipped" in x]
    assert skipped
    assert skipped[0]["level"] == "INFO"


def test_a_failed_run_raises_so_the_errors_alarm_counts_it(
    curate_handler: ModuleType, s3: Any
) -> None:
    lake = S3Lake(BUCKET, "", s3)
    lake.put(MANIFEST, b"{not json", "application/json")
    with pytest.raises(Exception, match="manifest"):
        curate_handler.handler({}, Context())
    assert not lake.exists(LEASE)
