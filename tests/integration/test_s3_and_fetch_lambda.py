"""The raw zone on S3 (moto) and the fetch Lambda invoked with a recorded EventBridge event."""

from __future__ import annotations

import importlib
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import boto3
import httpx
import pytest
from moto import mock_aws

from nebulastream.edge import CurrentSpotSource, coingecko_api_key
from nebulastream.ingest import fetch_spot
from nebulastream.lake.storage import LakeError, S3Lake
from nebulastream.settings import Settings
from nebulastream.sources.base import SourceError
from nebulastream.sources.coingecko import CoinGecko, build_client
from tests.conftest import fixture_json, fixture_text
from tests.integration.aws_lake import BUCKET, mocked_bucket

SLOT = datetime(2026, 11, 28, 4, 5, tzinfo=UTC)
IDS = {"BTC": "bitcoin", "ETH": "ethereum", "SOL": "solana"}


@pytest.fixture
def s3() -> Iterator[Any]:
    yield from mocked_bucket()


def coingecko(body: str) -> CoinGecko:
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text=body, headers={"Content-Type": "application/json"})

    return CoinGecko(
        build_client("https://cg.test", transport=httpx.MockTransport(handle)),
        IDS,
        sleep=lambda _: None,
    )


def test_batches_land_under_the_prefix_with_kms_encryption_and_content_type(s3: Any) -> None:
    kms = boto3.client("kms", region_name="us-east-1")
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    lake = S3Lake(BUCKET, "lake", s3, kms_key_id=key_id)

    result = fetch_spot(
        coingecko(fixture_text("coingecko/simple_price.json")), lake, slot=SLOT, now=SLOT
    )

    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert keys == ["lake/raw/dt=2026-11-28/coingecko-spot-20261128T0405Z.jsonl"]
    head = s3.head_object(Bucket=BUCKET, Key=keys[0])
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"].endswith(key_id)
    assert head["ContentType"] == "application/x-ndjson"
    assert list(lake.list("raw/")) == [result.key]
    assert lake.exists(result.key) and not lake.exists("raw/nothing.jsonl")


def test_without_a_key_the_bucket_default_encryption_applies(s3: Any) -> None:
    s3.put_bucket_encryption(
        Bucket=BUCKET,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]
        },
    )
    lake = S3Lake(BUCKET, "", s3)
    result = fetch_spot(
        coingecko(fixture_text("coingecko/simple_price.json")), lake, slot=SLOT, now=SLOT
    )
    assert s3.head_object(Bucket=BUCKET, Key=result.key)["ServerSideEncryption"] == "aws:kms"


def test_a_rerun_overwrites_the_slot_batch(s3: Any) -> None:
    lake = S3Lake(BUCKET, "", s3)
    first = fixture_text("coingecko/simple_price.json")
    fetch_spot(coingecko(first), lake, slot=SLOT, now=SLOT)
    fetch_spot(coingecko(first.replace("141.2290331", "142.5")), lake, slot=SLOT, now=SLOT)
    [obj] = s3.list_objects_v2(Bucket=BUCKET)["Contents"]
    rows = [json.loads(line) for line in lake.get(obj["Key"]).decode().splitlines()]
    assert [r["price_usd"] for r in rows if r["coin"] == "SOL"] == [142.5]


@pytest.fixture
def fetch_handler(s3: Any, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """handlers.fetch imported as Lambda would, inside the mock; CoinGecko on a mock transport."""
    monkeypatch.setenv("NEBULA_LAKE_URI", f"s3://{BUCKET}")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "nebula-fetch")
    import handlers.fetch

    module = importlib.reload(handlers.fetch)
    # Powertools binds sys.stdout once, when the logger is first built: give it a stream to read.
    module.logger.registered_handler.stream = io.StringIO()
    return module


class Context:
    function_name = "nebula-stream-test-fetch"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:nebula-stream-test-fetch"
    aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"


def test_the_lambda_stores_the_batch_of_the_events_slot(
    fetch_handler: ModuleType, s3: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    fetch_handler.source = lambda: coingecko(fixture_text("coingecko/simple_price.json"))
    event = fixture_json("events/eventbridge_scheduled.json")

    summary = fetch_handler.handler(event, Context())

    assert summary["key"] == "raw/dt=2026-11-28/coingecko-spot-20261128T0405Z.jsonl"
    assert summary["slot"] == "2026-11-28T04:05:00Z"
    assert summary["stored"] == ["BTC", "ETH", "SOL"]
    [obj] = s3.list_objects_v2(Bucket=BUCKET)["Contents"]
    assert obj["Key"] == summary["key"]
    logs = [
        json.loads(line)
        for line in fetch_handler.logger.registered_handler.stream.getvalue().splitlines()
        if line.startswith("{")
    ]
    stored = [entry for entry in logs if entry.get("message") == "stored raw batch"]
    assert len(stored) == 1
    assert stored[0]["key"] == summary["key"]
    assert stored[0]["level"] == "INFO"
    assert stored[0]["function_request_id"] == Context.aws_request_id


def test_the_lambda_raises_when_no_coin_could_be_stored(fetch_handler: ModuleType, s3: Any) -> None:
    fetch_handler.source = lambda: coingecko('{"some-other-coin": {"usd": 1}}')
    with pytest.raises(SourceError, match="without any of the configured coins"):
        fetch_handler.handler(fixture_json("events/eventbridge_scheduled.json"), Context())
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET)


def test_a_missing_bucket_is_a_lake_error_naming_the_key(s3: Any) -> None:
    lake = S3Lake("no-such-bucket", "", s3)
    with pytest.raises(LakeError, match="NoSuchBucket") as caught:
        fetch_spot(
            coingecko(fixture_text("coingecko/simple_price.json")), lake, slot=SLOT, now=SLOT
        )
    assert "coingecko-spot-20261128T0405Z.jsonl" in str(caught.value)


# -- the CoinGecko key from SSM ------------------------------------------------------------

KEY_PARAMETER = "/nebula-stream/test/coingecko-api-key"


@pytest.fixture
def ssm() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("ssm", region_name="us-east-1")


@pytest.fixture
def _fresh_parameter_cache() -> Iterator[None]:
    from aws_lambda_powertools.utilities import parameters

    parameters.clear_caches()
    yield
    parameters.clear_caches()


@pytest.mark.usefixtures("_fresh_parameter_cache")
def test_the_key_is_read_from_a_securestring_once_per_container(ssm: Any) -> None:
    ssm.put_parameter(Name=KEY_PARAMETER, Type="SecureString", Value=" CG-test-key\n")
    settings = Settings(coingecko_api_key_parameter=KEY_PARAMETER, coingecko_api_key="ignored")
    calls: list[dict[str, Any]] = []
    from aws_lambda_powertools.utilities import parameters

    provider = parameters.ssm.DEFAULT_PROVIDERS.get("ssm") or parameters.SSMProvider()
    parameters.ssm.DEFAULT_PROVIDERS["ssm"] = provider
    provider.client.meta.events.register(
        "provide-client-params.ssm.GetParameter", lambda params, **_: calls.append(params)
    )

    assert coingecko_api_key(settings) == "CG-test-key"
    ssm.put_parameter(Name=KEY_PARAMETER, Type="SecureString", Value="CG-new", Overwrite=True)
    assert coingecko_api_key(settings) == "CG-test-key"  # cached for the container
    assert len(calls) == 1
    assert calls[0]["WithDecryption"] is True

    source = CurrentSpotSource(settings)
    first = source()
    assert first is source()  # one client while the key stays the same
    assert first.has_key


@pytest.mark.usefixtures("_fresh_parameter_cache")
def test_a_missing_key_parameter_is_a_one_line_source_error(ssm: Any) -> None:
    settings = Settings(coingecko_api_key_parameter="/nebula-stream/test/missing")
    with pytest.raises(SourceError, match=r"SSM parameter /nebula-stream/test/missing") as caught:
        coingecko_api_key(settings)
    assert "\n" not in str(caught.value)


def test_without_a_parameter_the_settings_key_is_used() -> None:
    assert coingecko_api_key(Settings(coingecko_api_key="CG-local")) == "CG-local"
    assert coingecko_api_key(Settings()) is None


# -- every S3 failure is a one-line LakeError ----------------------------------------------


def _operations(lake: S3Lake) -> dict[str, Any]:
    return {
        "put": lambda: lake.put("raw/x.jsonl", b"{}", "application/x-ndjson"),
        "get": lambda: lake.get("raw/x.jsonl"),
        "exists": lambda: lake.exists("raw/x.jsonl"),
        "list": lambda: list(lake.list("raw/")),
        "delete": lambda: lake.delete("raw/x.jsonl"),
        "versions": lambda: list(lake.versions("raw/")),
    }


@pytest.mark.parametrize("operation", ["put", "get", "exists", "list", "delete", "versions"])
def test_a_missing_bucket_is_a_one_line_lake_error_for_every_operation(
    s3: Any, operation: str
) -> None:
    lake = S3Lake("no-such-bucket", "lake", s3)
    with pytest.raises(LakeError, match="NoSuchBucket") as caught:
        _operations(lake)[operation]()
    message = str(caught.value)
    assert "\n" not in message
    assert "s3://no-such-bucket/lake/" in message and "NEBULA_LAKE_URI" in message


@pytest.mark.parametrize("operation", ["put", "get", "exists", "list", "delete", "versions"])
def test_an_unreachable_s3_is_a_one_line_lake_error_for_every_operation(operation: str) -> None:
    from botocore.config import Config

    client = boto3.client(
        "s3",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        config=Config(retries={"max_attempts": 1}, connect_timeout=1),
    )
    lake = S3Lake("nebula", "", client)
    with pytest.raises(LakeError, match="Could not connect") as caught:
        _operations(lake)[operation]()
    assert "\n" not in str(caught.value)


def test_a_missing_object_is_still_named_as_missing(s3: Any) -> None:
    lake = S3Lake(BUCKET, "", s3)
    with pytest.raises(LakeError, match=r"no object 'raw/x.jsonl'"):
        lake.get("raw/x.jsonl")
    assert lake.exists("raw/x.jsonl") is False
