"""The heal Lambda under moto: recent gaps from the coverage state curation records, candles
from an exchange-compatible server on loopback, raw batches and the unrecoverable record in S3,
and one message to the alarm topic about the slot no source has."""

from __future__ import annotations

import importlib
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import boto3
import pytest

from nebulastream import completeness
from nebulastream.lake.layout import COVERAGE, UNRECOVERABLE
from tests.fake_exchange import Exchange, serve
from tests.integration.aws_lake import BUCKET, mocked_bucket

NOW = datetime(2026, 12, 5, 15, 2, tzinfo=UTC)
FIRST = int(datetime(2026, 12, 2, tzinfo=UTC).timestamp())
LAST = int(datetime(2026, 12, 5, 14, 0, tzinfo=UTC).timestamp())
GAP = (FIRST + 86400 + 3600, FIRST + 86400 + 7200)  # an hour on 12-03, long past
STEP = 300


class Context:
    function_name = "nebula-stream-test-heal"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:nebula-stream-test-heal"
    aws_request_id = "c0ffee00-7b61-11e6-9a41-93e8deadbeef"


def coverage_state() -> dict[str, Any]:
    """What the curation runs record: 12-02 .. 12-05 for BTC, one hour missing on 12-03."""
    day = 86400
    days = {}
    for n in range(4):
        lo = FIRST + n * day
        hi = min(lo + day - STEP, LAST)
        holes = [list(GAP)] if lo < GAP[0] < hi else []
        present = (hi - lo) // STEP + 1 - sum((b - a) // STEP for a, b in holes)
        days[completeness.utc(lo).date().isoformat()] = [lo, hi, present, holes]
    return {"version": 1, "coins": {"BTC": days}}


@pytest.fixture
def s3() -> Iterator[Any]:
    yield from mocked_bucket()


@pytest.fixture
def exchange() -> Iterator[tuple[Exchange, str]]:
    market = Exchange(missing={GAP[0] + 5 * STEP})
    with serve(market) as url:
        yield market, url


@pytest.fixture
def alarm_topic(s3: Any) -> tuple[str, str]:
    """The alarm topic, with a queue subscribed to read what it was told."""
    sns = boto3.client("sns", region_name="us-east-1")
    sqs = boto3.client("sqs", region_name="us-east-1")
    arn = sns.create_topic(Name="nebula-stream-test-alarms")["TopicArn"]
    queue = sqs.create_queue(QueueName="alarms")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
    sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn["Attributes"]["QueueArn"])
    return arn, queue


@pytest.fixture
def heal_handler(
    s3: Any,
    exchange: tuple[Exchange, str],
    alarm_topic: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> ModuleType:
    topic = alarm_topic[0]
    s3.put_object(Bucket=BUCKET, Key=COVERAGE, Body=json.dumps(coverage_state()).encode())
    monkeypatch.setenv("NEBULA_LAKE_URI", f"s3://{BUCKET}")
    monkeypatch.setenv("NEBULA_ALERT_TOPIC_ARN", topic)
    monkeypatch.setenv("NEBULA_COINS", "BTC")
    monkeypatch.setenv("NEBULA_COINGECKO_BASE_URL", "http://127.0.0.1:9/api/v3")  # never asked
    monkeypatch.setenv("NEBULA_COINBASE_BASE_URL", exchange[1])
    monkeypatch.setenv("NEBULA_BITSTAMP_BASE_URL", f"{exchange[1]}/api/v2")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "nebula-heal")
    import handlers.heal

    module = importlib.reload(handlers.heal)
    module.logger.registered_handler.stream = io.StringIO()
    module.utcnow = lambda: NOW
    return module


def test_the_hourly_heal_stores_candles_for_the_gap_and_records_the_slot_nobody_has(
    heal_handler: ModuleType,
    s3: Any,
    exchange: tuple[Exchange, str],
    alarm_topic: tuple[str, str],
) -> None:
    market, _ = exchange

    result = heal_handler.handler({"time": "2026-12-05T15:02:00Z"}, Context())

    assert result["filled"] == 11 and result["still_missing"] == 1
    assert result["unrecoverable_new"] == 1 and result["errors"] == []
    assert (result["requests"], result["planned_requests"]) == (2, 1)  # coinbase, then bitstamp
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert sorted(keys) == [
        "raw/dt=2026-12-03/coinbase-candles-BTC-20261203T0100Z-20261203T0200Z.jsonl",
        COVERAGE,
        UNRECOVERABLE,
    ]
    body = s3.get_object(Bucket=BUCKET, Key=UNRECOVERABLE)["Body"].read()
    assert list(json.loads(body)["slots"]["BTC"]) == ["2026-12-03T01:25:00.000Z"]
    assert len(market.requests) == 2
    sqs = boto3.client("sqs", region_name="us-east-1")
    [told] = sqs.receive_message(QueueUrl=alarm_topic[1])["Messages"]
    message = json.loads(json.loads(told["Body"])["Message"])
    assert message["slots"] == [
        {
            "coin": "BTC",
            "slot": "2026-12-03T01:25:00.000Z",
            "answers": {"coinbase": "no data", "bitstamp": "no data"},
        }
    ]
    logged = [
        json.loads(line)
        for line in heal_handler.logger.registered_handler.stream.getvalue().splitlines()
    ]
    healed = next(line for line in logged if line.get("message") == "healed")
    assert healed["unrecoverable_new"] == 1  # what the alarm's metric filter reads

    again = heal_handler.handler({"time": "2026-12-05T16:02:00Z"}, Context())
    # The state still shows the gap until curation runs; asked again, the recorded slot is not.
    assert again["requests"] == 1 and again["unrecoverable_new"] == 0
    assert len(market.requests) == 3
