"""The OpenAPI document: every answer the app can give is documented, with examples."""

from __future__ import annotations

from typing import Any

import pytest

from api.app import create_app


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return create_app().openapi()


@pytest.mark.parametrize(
    ("path", "statuses"),
    [
        ("/prices/latest", {"200", "400", "503"}),
        ("/prices/history", {"200", "400", "503"}),
        ("/coins", {"200", "503"}),
        ("/health", {"200", "503"}),
        ("/alerts", {"200", "503"}),
        ("/alerts/history", {"200", "400", "503"}),
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


def test_validation_errors_are_documented_as_400_not_422(spec: dict[str, Any]) -> None:
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    assert all("422" not in op["responses"] for p in spec["paths"].values() for op in p.values())


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
    }  # fmt: skip
