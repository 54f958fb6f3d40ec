"""AthenaEngine under moto: the SQL, parameters, workgroup and reuse sent; results mapped back."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.athena.models import QueryResults, athena_backends
from moto.core import DEFAULT_ACCOUNT_ID

from nebulastream.query import service
from nebulastream.query.athena import AthenaEngine, literal
from nebulastream.query.base import EngineError, Query
from nebulastream.query.service import Interval
from nebulastream.settings import Settings
from tests.lake_fixtures import utc

REGION = "eu-west-1"
NOW = utc("2026-11-28T04:06:10Z")


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield


@pytest.fixture
def sent(aws: None) -> Iterator[tuple[AthenaEngine, list[dict[str, Any]]]]:
    boto3.client("athena", region_name=REGION).create_work_group(
        Name="nebula-test-wg",
        Configuration={"ResultConfiguration": {"OutputLocation": "s3://results/athena/"}},
    )
    settings = Settings(athena_workgroup="nebula-test-wg", glue_database="nebula_test")
    engine = AthenaEngine.connect(settings, region_name=REGION, poll_interval=0.01)
    requests: list[dict[str, Any]] = []

    def capture(params: dict[str, Any], **_: Any) -> None:
        requests.append(dict(params))

    engine.connection.client.meta.events.register(
        "provide-client-params.athena.StartQueryExecution", capture
    )
    yield engine, requests
    engine.close()


def _column(name: str, kind: str) -> dict[str, Any]:
    # pyathena reads Precision/Scale/Nullable from the metadata; moto leaves them to us.
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


def queue(columns: list[tuple[str, str]], rows: list[list[str | None]]) -> None:
    header = {"Data": [{"VarCharValue": name} for name, _ in columns]}
    data = [{"Data": [{} if v is None else {"VarCharValue": v} for v in row]} for row in rows]
    backend = athena_backends[DEFAULT_ACCOUNT_ID][REGION]
    backend.query_results_queue.append(
        QueryResults(rows=[header, *data], column_info=[_column(n, k) for n, k in columns])
    )


LATEST_COLUMNS = [
    ("coin", "varchar"),
    ("price_usd", "double"),
    ("market_cap_usd", "double"),
    ("volume_24h_usd", "double"),
    ("change_24h_pct", "double"),
    ("ts", "timestamp"),
    ("source", "varchar"),
]


def test_latest_sends_parameterised_sql_to_the_workgroup_with_result_reuse(
    sent: tuple[AthenaEngine, list[dict[str, Any]]],
) -> None:
    engine, requests = sent
    queue(
        LATEST_COLUMNS,
        [
            [
                "BTC",
                "67187.3",
                "1.32E12",
                "3.1E10",
                "-1.23",
                "2026-11-28 04:03:12.000",
                "coingecko",
            ],
            ["ETH", "3105.5", None, "3.0E10", None, "2026-11-28 04:00:10.000", "coingecko"],
        ],
    )
    prices = service.latest(engine, ["BTC", "ETH"], NOW, 2)

    assert prices == [
        service.LatestPrice(
            "BTC",
            67187.3,
            1.32e12,
            3.1e10,
            -1.23,
            datetime(2026, 11, 28, 4, 3, 12, tzinfo=UTC),
            "coingecko",
        ),
        service.LatestPrice(
            "ETH",
            3105.5,
            None,
            3.0e10,
            None,
            datetime(2026, 11, 28, 4, 0, 10, tzinfo=UTC),
            "coingecko",
        ),
    ]
    assert len(requests) == 1
    request = requests[0]
    days = (date(2026, 11, 27), date(2026, 11, 29))
    expected = Query(
        service.sql.latest(("BTC", "ETH"), days), days, ("BTC", "ETH"), date(2026, 11, 26)
    )
    text, parameters = engine.render(expected)
    assert request["QueryString"] == text
    assert request["ExecutionParameters"] == parameters == [
        "'2026-11-26'", "'2026-11-30'",  # raw partitions whose batches replace curated rows
        "'2026-11-27'", "'2026-11-29'", "'BTC'", "'ETH'",  # curated partitions, coins
        "'2026-11-26'", "'2026-11-30'", "'BTC'", "'ETH'",  # raw partitions, coins
        "'2026-11-27'", "'2026-11-29'", "'2026-11-27 00:00:00.000'", "'BTC'", "'ETH'",
    ]  # fmt: skip
    assert '"nebula_test"."prices"' in text
    assert '"nebula_test"."raw_prices"' in text
    assert request["WorkGroup"] == "nebula-test-wg"
    assert request["QueryExecutionContext"]["Database"] == "nebula_test"
    reuse = request["ResultReuseConfiguration"]["ResultReuseByAgeConfiguration"]
    assert reuse["Enabled"] is True
    assert 1 <= reuse["MaxAgeInMinutes"] <= 5  # since the slot began (test_result_reuse_...)
    backend = athena_backends[DEFAULT_ACCOUNT_ID][REGION]
    (execution,) = backend.executions.values()
    assert execution.execution_parameters == parameters


def test_history_rows_map_to_epoch_aligned_buckets(
    sent: tuple[AthenaEngine, list[dict[str, Any]]],
) -> None:
    engine, requests = sent
    queue(
        [
            ("bucket", "bigint"),
            ("open", "double"),
            ("high", "double"),
            ("low", "double"),
            ("close", "double"),
            ("samples", "bigint"),
            ("market_cap_usd", "double"),
            ("volume_24h_usd", "double"),
            ("sources", "varchar"),
        ],
        [
            ["1795737600", "100.0", "150.0", "90.0", "150.0", "7", None, "4.0E10", "coinbase"],
            [
                "1795824000",
                "67187.3",
                "67187.3",
                "67187.3",
                "67187.3",
                "1",
                "1.32E12",
                "3.1E10",
                "coinbase,coingecko",
            ],
        ],
    )
    start, end = utc("2026-11-27T00:00:00Z"), utc("2026-11-29T00:00:00Z")
    best = service.parse_source("best", ["coingecko", "coinbase", "bitstamp"])
    result = service.history(engine, "BTC", start, end, Interval.D1, NOW, 2, best)
    assert [(p.ts, p.open, p.high, p.low, p.close, p.samples, p.sources) for p in result] == [
        (utc("2026-11-27T00:00:00Z"), 100.0, 150.0, 90.0, 150.0, 7, ["coinbase"]),
        (
            utc("2026-11-28T00:00:00Z"),
            67187.3,
            67187.3,
            67187.3,
            67187.3,
            1,
            ["coinbase", "coingecko"],
        ),
    ]
    assert result[0].market_cap_usd is None
    (request,) = requests
    assert "max_by(market_cap_usd, ts)" in request["QueryString"]
    assert "array_agg(source)" in request["QueryString"]
    # the sources' ranks travel as parameters, in priority order (the row's rank, its slot's)
    assert request["ExecutionParameters"][-12:] == [
        "86400",
        *["'coingecko'", "'coinbase'", "'bitstamp'"] * 2,
        "'BTC'",
        "'2026-11-27'",
        "'2026-11-28'",
        "'2026-11-27 00:00:00.000'",
        "'2026-11-29 00:00:00.000'",
    ]


def test_ping_runs_a_trivial_query(sent: tuple[AthenaEngine, list[dict[str, Any]]]) -> None:
    engine, requests = sent
    engine.ping()
    assert requests[0]["QueryString"] == "SELECT 1"
    assert "ExecutionParameters" not in requests[0]


def test_an_unreachable_athena_is_an_engine_error(aws: None) -> None:
    settings = Settings(athena_workgroup="primary")
    engine = AthenaEngine.connect(
        settings, region_name=REGION, poll_interval=0.01, endpoint_url="http://127.0.0.1:9"
    )
    with pytest.raises(EngineError, match="Athena could not run the query"):
        engine.ping()


@pytest.mark.parametrize(
    ("value", "text"),
    [("BTC", "'BTC'"), ("O'Brien", "'O''Brien'"), (300, "300"), (1.5, "1.5")],
)
def test_parameters_become_athena_literals(value: str | int | float, text: str) -> None:
    assert literal(value) == text


def test_glue_names_must_be_plain_identifiers() -> None:
    with pytest.raises(ValueError, match="NEBULA_GLUE_DATABASE"):
        AthenaEngine(
            None, database='x"; DROP', curated_table="prices", raw_table="raw", reuse_minutes=5
        )


@pytest.mark.parametrize(
    ("now", "minutes"),
    [
        (datetime(2026, 11, 28, 10, 5, 0, tzinfo=UTC), 1),  # Athena's minimum
        (datetime(2026, 11, 28, 10, 6, 30, tzinfo=UTC), 1),
        (datetime(2026, 11, 28, 10, 8, 10, tzinfo=UTC), 3),
        (datetime(2026, 11, 28, 10, 9, 59, tzinfo=UTC), 4),
    ],
)
def test_result_reuse_reaches_back_only_to_the_start_of_the_slot(
    now: datetime, minutes: int
) -> None:
    engine = AthenaEngine(
        None,
        database="nebula",
        curated_table="prices",
        raw_table="raw_prices",
        reuse_minutes=5,
        clock=lambda: now,
    )
    assert engine.reuse_minutes_now() == minutes
