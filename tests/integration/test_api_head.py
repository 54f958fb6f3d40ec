"""HEAD answers wherever GET does: the same status and headers, no body."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from nebulastream.query.duckdb import DuckDBEngine
from tests.integration.api_lake import build_lake, client_for, settings_for


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    lake = build_lake(tmp_path_factory.mktemp("lake"))
    engine = DuckDBEngine(lake, recheck_seconds=0)
    with client_for(engine, settings_for(lake)) as client:
        yield client
    engine.close()


@pytest.mark.parametrize(
    "url",
    [
        "/prices/latest",
        "/prices/latest?coin=NOPE",
        "/prices/history?coin=BTC&start=2026-11-27T00:00:00Z&interval=1h",
        "/coins",
        "/health",
        "/dashboard",
        "/dashboard/dashboard.js",
        "/dashboard/vendor/uPlot.iife.min.js",
        "/docs",
        "/openapi.json",
        "/no/such/page",
    ],
)
def test_head_has_gets_status_and_headers_and_no_body(client: TestClient, url: str) -> None:
    get = client.get(url, headers={"Accept-Encoding": "identity"})
    head = client.head(url, headers={"Accept-Encoding": "identity"})
    assert head.status_code == get.status_code
    assert head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]
    assert int(head.headers["content-length"]) == len(get.content)
    assert head.headers.get("cache-control") == get.headers.get("cache-control")


def test_head_follows_the_same_redirects(client: TestClient) -> None:
    for url in ("/", "/dashboard/"):
        get = client.get(url, follow_redirects=False)
        head = client.head(url, follow_redirects=False)
        assert (head.status_code, head.headers["location"]) == (
            get.status_code,
            get.headers["location"],
        )


def test_the_openapi_documents_head_beside_each_get() -> None:
    paths = create_app().openapi()["paths"]
    for path, operations in paths.items():
        assert "head" in operations, path
        assert set(operations["head"]["responses"]) == set(operations["get"]["responses"])
        assert all("content" not in r for r in operations["head"]["responses"].values())


def test_other_methods_are_still_refused(client: TestClient) -> None:
    response = client.request("DELETE", "/prices/latest")
    assert response.status_code == 405
    assert set(response.json()) == {"detail", "request_id"}
