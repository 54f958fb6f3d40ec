"""Every error answer is the documented JSON and leaks nothing; the log has the cause.

The sweep drives each way the API can fail (the engine cannot be built or reached, a damaged
curated file, Athena failures under moto, a bug, and the 4xx paths) and asserts that no body
carries a path, an `s3://` URI, an ARN, SQL or exception text, and that 5xx causes are in the
log under the request id the body gives.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from botocore.awsrequest import AWSResponse
from fastapi.testclient import TestClient
from moto import mock_aws

from api.app import create_app
from api.deps import get_clock, get_engine
from nebulastream.query.athena import AthenaEngine
from nebulastream.query.base import Query
from nebulastream.query.duckdb import DuckDBEngine
from nebulastream.settings import Settings, get_settings
from tests.integration.api_lake import NOW, build_lake, settings_for

REGION = "eu-west-1"
ACCOUNT_ARN = "arn:aws:sts::123456789012:assumed-role/nebula-dev-api/nebula-dev-api"
SQL_OR_TRACE = re.compile(
    r"\b(SELECT|FROM|WHERE|JOIN|UNION|read_parquet|Traceback)\b|\w+(Error|Exception)\b"
)
ROUTES = [
    "/prices/latest",
    "/prices/history?coin=SOL&start=2026-09-01T00:00:00Z&interval=1d",
    "/coins",
    "/health",
]


@dataclass(frozen=True)
class Case:
    name: str
    engine: Callable[[Path], Any] | None  # None: built from settings, as in production
    settings: Callable[[Path], Settings]
    cause: str  # what the log must hold (and the body must not)


class BuggyEngine:
    """A programming error deep inside: the text names a path and SQL."""

    name = "duckdb"
    dialect = "duckdb"

    def __init__(self, root: Path) -> None:
        self.root = root

    def execute(self, query: Query) -> list[tuple[Any, ...]]:
        raise KeyError(f"{self.root}/curated SELECT coin FROM observations")

    def newest_day(self) -> None:
        return None

    def ping(self) -> None:
        self.execute(None)  # type: ignore[arg-type]

    def close(self) -> None: ...


def _damaged(root: Path) -> DuckDBEngine:
    # A file that is not Parquet at all is left out and its day served from raw (the engine's
    # self-repair); one that reads but holds text where prices belong fails the query.
    victim = sorted((root / "curated").rglob("*.parquet"))[0]
    table = pq.read_table(victim)
    index = table.schema.get_field_index("price_usd")
    pq.write_table(
        table.set_column(index, "price_usd", pa.array(["not a price"] * table.num_rows)), victim
    )
    return DuckDBEngine(root, recheck_seconds=0)


def _not_a_folder(root: Path) -> DuckDBEngine:
    target = root.parent / "lake-is-a-file"
    target.write_text("x")
    return DuckDBEngine(target, recheck_seconds=0)


def _athena(workgroup: str) -> Callable[[Path], AthenaEngine]:
    def build(root: Path) -> AthenaEngine:
        boto3.client("athena", region_name=REGION).create_work_group(
            Name="nebula-test-wg",
            Configuration={"ResultConfiguration": {"OutputLocation": "s3://nebula-results/q/"}},
        )
        settings = Settings(athena_workgroup=workgroup, glue_database="nebula_test")
        return AthenaEngine.connect(settings, region_name=REGION, poll_interval=0.01)

    return build


def _athena_denied(root: Path) -> AthenaEngine:
    """Athena answers AccessDenied, whose message names the role's ARN and the workgroup's."""
    engine = _athena("nebula-test-wg")(root)
    body = json.dumps(
        {
            "__type": "AccessDeniedException",
            "Message": f"User: {ACCOUNT_ARN} is not authorized to perform: "
            "athena:StartQueryExecution on resource: "
            "arn:aws:athena:eu-west-1:123456789012:workgroup/nebula-test-wg",
        }
    ).encode()

    def deny(**_: Any) -> AWSResponse:
        raw = type("Raw", (), {"stream": lambda self, **_: iter([body])})()
        return AWSResponse("https://athena", 400, {"x-amzn-requestid": "r"}, raw)

    engine.connection.client.meta.events.register("before-send.athena.StartQueryExecution", deny)
    return engine


CASES = [
    Case(
        "duckdb on an s3 lake (engine cannot be built)",
        None,
        lambda root: Settings(lake_uri="s3://nebula-dev-data-123456789012/lake"),
        "s3://nebula-dev-data-123456789012",
    ),
    Case("lake folder is a file", _not_a_folder, settings_for, "lake-is-a-file"),
    Case("curated file of the wrong types", _damaged, settings_for, "curated"),
    Case("athena denies (ARN)", _athena_denied, settings_for, ACCOUNT_ARN),
    Case("athena workgroup missing", _athena("no-such-workgroup"), settings_for, "Athena"),
    Case("a bug in the engine", BuggyEngine, settings_for, "SELECT coin FROM observations"),
]


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        yield


def assert_leaks_nothing(response: Any, root: Path) -> dict[str, Any]:
    assert response.status_code >= 400
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"detail", "request_id"}
    assert body["request_id"] == response.headers["x-request-id"]
    text = response.text
    for secret in (str(root), str(root.parent), "s3://", "arn:", "/tmp", "123456789012"):
        assert secret not in text, (secret, text)
    assert not SQL_OR_TRACE.search(text), text
    return body


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
@pytest.mark.parametrize("route", ROUTES)
def test_a_failing_engine_answers_the_documented_error_and_logs_the_cause(
    case: Case,
    route: str,
    aws: None,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    root = build_lake(tmp_path / "lake")
    app = create_app()
    app.dependency_overrides[get_settings] = lambda: case.settings(root)
    app.dependency_overrides[get_clock] = lambda: NOW
    if case.engine is not None:
        engine = case.engine(root)
        app.dependency_overrides[get_engine] = lambda: engine
    with caplog.at_level(logging.WARNING, logger="api"), TestClient(app) as client:
        response = client.get(route)
    body = assert_leaks_nothing(response, tmp_path)
    assert response.status_code in (500, 503)
    logged = [r for r in caplog.records if body["request_id"] in r.getMessage()]
    assert logged, caplog.text
    assert case.cause in caplog.text, caplog.text


@pytest.mark.parametrize(
    ("method", "url", "status"),
    [
        ("GET", "/no/such/route", 404),
        ("POST", "/prices/latest", 405),
        ("GET", "/prices/latest?" + "x" * 3000, 414),
        ("GET", "/prices/latest?" + "&".join(["a=1"] * 20), 400),
        ("GET", "/prices/latest?coin=BTC&coin=ETH", 400),
        ("GET", "/prices/latest?coin=DROP%20TABLE", 400),
        ("GET", "/prices/history", 400),
        ("GET", "/prices/history?coin=BTC&start=yesterday", 400),
        ("GET", "/prices/history?coin=BTC&interval=2m", 400),
        ("GET", "/prices/history?coin=BTC&start=2026-01-02T00:00:00Z&end=2026-01-01", 400),
        ("GET", "/dashboard/no-such-file.js", 404),
    ],
)
def test_every_client_error_is_the_documented_json(
    method: str, url: str, status: int, tmp_path: Path
) -> None:
    root = build_lake(tmp_path / "lake")
    engine = DuckDBEngine(root, recheck_seconds=0)
    app = create_app()
    app.dependency_overrides[get_settings] = lambda: settings_for(root)
    app.dependency_overrides[get_engine] = lambda: engine
    app.dependency_overrides[get_clock] = lambda: NOW
    with TestClient(app) as client:
        response = client.request(method, url)
    engine.close()
    assert response.status_code == status
    assert_leaks_nothing(response, tmp_path)
