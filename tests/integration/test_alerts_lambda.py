"""Alerts on AWS under moto: S3 conditional writes, and the fetch Lambda invoked twice with
the same event (a retry or a duplicated delivery) sending each firing once to the webhook
(signed with the SSM SecureString) and SNS, with the value read through Athena."""

from __future__ import annotations

import hashlib
import hmac
import importlib
import io
import json
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import boto3
import httpx
import pytest
from moto import mock_aws
from moto.athena.models import QueryResults, athena_backends
from moto.core import DEFAULT_ACCOUNT_ID

from nebulastream.lake.storage import S3Lake
from nebulastream.sources.coingecko import CoinGecko, build_client
from tests.conftest import fixture_json, fixture_text
from tests.integration.aws_lake import BUCKET
from tests.webhook_receiver import Receiver, webhook_receiver

REGION = "us-east-1"
SECRET_NAME = "/nebula-stream/test/alert-webhook-secret"
RULES = """\
rules:
  - name: btc-high
    coin: BTC
    above: 90000
    channels: [webhook, sns]
"""
LATEST_COLUMNS = [
    ("coin", "varchar"),
    ("price_usd", "double"),
    ("market_cap_usd", "double"),
    ("volume_24h_usd", "double"),
    ("change_24h_pct", "double"),
    ("ts", "timestamp"),
    ("source", "varchar"),
]


def _column(name: str, kind: str) -> dict[str, Any]:
    return {
        "CatalogName": "hive",
        "SchemaName": "",
        "TableName": "",
        "Name": name,
        "Label": name,
        "Type": kind,
        "Precision": 17 if kind == "double" else 0,
        "Scale": 0,
        "Nullable": "UNKNOWN",
        "CaseSensitive": kind == "varchar",
    }


def queue_latest(price: str, ts: str) -> None:
    """What Athena answers to the next query: BTC's newest stored observation."""
    header = {"Data": [{"VarCharValue": name} for name, _ in LATEST_COLUMNS]}
    row = {"Data": [{"VarCharValue": v} for v in ("BTC", price, "1", "1", "0", ts, "coingecko")]}
    athena_backends[DEFAULT_ACCOUNT_ID][REGION].query_results_queue.append(
        QueryResults(rows=[header, row], column_info=[_column(n, k) for n, k in LATEST_COLUMNS])
    )


class Context:
    function_name = "nebula-stream-test-fetch"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:nebula-stream-test-fetch"
    aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        sns = boto3.client("sns", region_name=REGION)
        topic = sns.create_topic(Name="nebula-stream-test-alarms")["TopicArn"]
        sqs = boto3.client("sqs", region_name=REGION)
        queue = sqs.create_queue(QueueName="alarm-inbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn["Attributes"]["QueueArn"])
        boto3.client("ssm", region_name=REGION).put_parameter(
            Name=SECRET_NAME, Value="from-ssm", Type="SecureString"
        )
        boto3.client("athena", region_name=REGION).create_work_group(
            Name="nebula-test-wg",
            Configuration={"ResultConfiguration": {"OutputLocation": f"s3://{BUCKET}/athena/"}},
        )
        yield {"s3": s3, "topic": topic, "sqs": sqs, "queue": queue}


def test_conditional_writes_on_s3(aws: dict[str, Any]) -> None:
    lake = S3Lake(BUCKET, "lake", aws["s3"])
    assert lake.get_versioned("alerts/state.json") is None
    assert lake.put_if_absent("alerts/state.json", b"v1", "application/json")
    assert not lake.put_if_absent("alerts/state.json", b"other", "application/json")
    found = lake.get_versioned("alerts/state.json")
    assert found is not None and found[0] == b"v1"
    assert lake.put_if_match("alerts/state.json", b"v2", "application/json", found[1])
    assert not lake.put_if_match("alerts/state.json", b"v3", "application/json", found[1])
    assert lake.get("alerts/state.json") == b"v2"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with webhook_receiver() as running:
        yield running


@pytest.fixture
def fetch_handler(
    aws: dict[str, Any], receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> ModuleType:
    for name, value in {
        "NEBULA_LAKE_URI": f"s3://{BUCKET}",
        "NEBULA_ENGINE": "athena",
        "NEBULA_ATHENA_WORKGROUP": "nebula-test-wg",
        "NEBULA_ALERT_WEBHOOK_URL": receiver.url,
        "NEBULA_ALERT_WEBHOOK_SECRET_PARAMETER": SECRET_NAME,
        "NEBULA_ALERT_TOPIC_ARN": aws["topic"],
        "POWERTOOLS_SERVICE_NAME": "nebula-fetch",
    }.items():
        monkeypatch.setenv(name, value)
    aws["s3"].put_object(Bucket=BUCKET, Key="alerts.yml", Body=RULES.encode())
    import handlers.fetch

    module = importlib.reload(handlers.fetch)
    module.logger.registered_handler.stream = io.StringIO()
    body = fixture_text("coingecko/simple_price.json")
    coingecko = CoinGecko(
        build_client(
            "https://cg.test",
            transport=httpx.MockTransport(lambda request: httpx.Response(200, text=body)),
        ),
        {"BTC": "bitcoin", "ETH": "ethereum", "SOL": "solana"},
        sleep=lambda _: None,
    )
    module.source = lambda: coingecko  # the handler asks for the source in force each time
    return module


def test_a_duplicated_fetch_event_sends_each_firing_once(
    fetch_handler: ModuleType, aws: dict[str, Any], receiver: Receiver
) -> None:
    event = fixture_json("events/eventbridge_scheduled.json")
    sent: list[dict[str, Any]] = []
    engine = fetch_handler.alerts

    for _ in range(2):  # Lambda's retry, or EventBridge delivering the event twice
        queue_latest("91234.56789012345", "2026-11-28 04:03:12.000")
        fetch_handler.handler(event, Context())
        if engine.engine is not None and not sent:
            engine.engine.connection.client.meta.events.register(
                "provide-client-params.athena.StartQueryExecution",
                lambda params, **_: sent.append(dict(params)),
            )

    (request,) = receiver.requests
    body = request.json
    assert (body["rule"], body["kind"], body["coin"], body["value"]) == (
        "btc-high",
        "above",
        "BTC",
        91234.56789012345,
    )
    assert body["ts"] == "2026-11-28T04:03:12.000Z"
    expected = hmac.new(
        b"from-ssm",
        request.headers["x-nebula-timestamp"].encode() + b"." + request.body,
        hashlib.sha256,
    ).hexdigest()
    assert request.headers["x-nebula-signature"] == f"sha256={expected}"

    messages = aws["sqs"].receive_message(QueueUrl=aws["queue"], MaxNumberOfMessages=10)
    (notification,) = [json.loads(m["Body"]) for m in messages["Messages"]]
    assert notification["Subject"].startswith("NebulaStream alert btc-high")
    assert notification["MessageAttributes"]["nebula_event"]["Value"] == "price-alert"
    assert body["id"] in notification["Message"]

    # State and history live under alerts/ in the bucket; the second run found it recorded.
    keys = [o["Key"] for o in aws["s3"].list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert "alerts/state.json" in keys
    assert [k for k in keys if k.startswith("alerts/history/")] == [
        f"alerts/history/dt={body['fired_at'][:10]}/{body['id']}.json"
    ]
    # The alert queries never reuse an Athena result from before the batch was stored.
    assert sent and all(
        not p.get("ResultReuseConfiguration", {})
        .get("ResultReuseByAgeConfiguration", {})
        .get("Enabled", False)
        for p in sent
    )
