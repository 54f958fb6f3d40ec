"""The OpenAPI document: every answer the app can give is documented, with examples."""

from __future__ import annotations

from typing import Any

import pytest

from api.app import create_app
from nebulastream.coins import ONE_SYMBOL_PATTERN, SYMBOLS_PATTERN
from nebulastream.timeutil import TIME_PATTERN


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return create_app().openapi()


@pytest.mark.parametrize(
    ("path", "statuses"),
    [
        ("/prices/latest", {"200", "400", "404", "414", "422", "503"}),
        ("/prices/history", {"200", "400", "404", "414", "422", "503"}),
        ("/coins", {"200", "400", "414", "503"}),
        ("/sources", {"200", "400", "414"}),
        ("/health", {"200", "400", "414", "503"}),
        ("/alerts", {"200", "400", "414", "503"}),
        ("/alerts/history", {"200", "400", "414", "422", "503"}),
    ],
)
def test_each_route_documents_its_answers(
    spec: dict[str, Any], path: str, statuses: set[str]
) -> None:
    responses = spec["paths"][path]["get"]["responses"]
    assert set(responses) == statuses
    for status in statuses - {"200"}:
        schema = responses[status]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/ErrorResponse"}


def test_fastapis_validation_error_shape_is_not_documented(spec: dict[str, Any]) -> None:
    # Validation errors are 400 with ErrorResponse; 422 is the app's own "breaks a rule".
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    for path in spec["paths"].values():
        for operation in path.values():
            for answer in operation["responses"].values():
                assert "HTTPValidationError" not in str(answer)


def test_parameters_state_exactly_what_is_accepted(spec: dict[str, Any]) -> None:
    latest = {p["name"]: p for p in spec["paths"]["/prices/latest"]["get"]["parameters"]}
    history = {p["name"]: p for p in spec["paths"]["/prices/history"]["get"]["parameters"]}
    coin_list = next(s for s in latest["coin"]["schema"]["anyOf"] if s.get("type") == "string")
    assert coin_list["pattern"] == SYMBOLS_PATTERN
    assert history["coin"]["schema"]["pattern"] == ONE_SYMBOL_PATTERN
    for name in ("start", "end"):
        time = next(s for s in history[name]["schema"]["anyOf"] if s.get("type") == "string")
        assert time["pattern"] == TIME_PATTERN


@pytest.mark.parametrize("model", ["LatestResponse", "HistoryResponse", "ErrorResponse"])
def test_answers_carry_examples(spec: dict[str, Any], model: str) -> None:
    assert spec["components"]["schemas"][model]["examples"]


def test_history_lists_the_intervals_and_times_are_documented_as_date_time(
    spec: dict[str, Any],
) -> None:
    params = {p["name"]: p for p in spec["paths"]["/prices/history"]["get"]["parameters"]}
    assert params["coin"]["required"] is True
    interval = spec["components"]["schemas"]["Interval"]
    assert interval["enum"] == ["5m", "15m", "1h", "4h", "1d"]
    point = spec["components"]["schemas"]["HistoryPoint"]["properties"]
    assert point["ts"]["format"] == "date-time"
    assert set(point) == {
        "ts", "open", "high", "low", "close", "samples", "market_cap_usd", "volume_24h_usd",
        "sources",
    }  # fmt: skip


def test_source_is_best_or_a_registry_name(spec: dict[str, Any]) -> None:
    for path in ("/prices/latest", "/prices/history"):
        params = {p["name"]: p for p in spec["paths"][path]["get"]["parameters"]}
        assert params["source"]["schema"]["$ref"] == "#/components/schemas/SourceName"
    names = spec["components"]["schemas"]["SourceName"]["enum"]
    assert names == ["best", "coingecko", "coinbase", "bitstamp"]
