"""Query strings are bounded: over a cap they are refused before anything parses them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import starlette.requests
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from api.app import create_app
from api.deps import first_repeated
from api.guard import MAX_QUERY_BYTES, MAX_QUERY_PARAMS


class CountingQueryParams(starlette.requests.QueryParams):
    built = 0

    def __init__(self, *args: object, **kwargs: object) -> None:
        type(self).built += 1
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    CountingQueryParams.built = 0
    monkeypatch.setattr(starlette.requests, "QueryParams", CountingQueryParams)
    with TestClient(create_app()) as test_client:
        yield test_client


def test_ten_thousand_parameters_are_refused_without_parsing_them(client: TestClient) -> None:
    query = "&".join(f"{i:x}=" for i in range(10_000))
    response = client.get(f"/prices/latest?{query}")
    assert response.status_code == 414
    assert f"more than {MAX_QUERY_BYTES:,}" in response.json()["detail"]
    assert CountingQueryParams.built == 0


def test_too_many_short_parameters_are_a_400_without_parsing_them(client: TestClient) -> None:
    query = "&".join("a=" for _ in range(MAX_QUERY_PARAMS + 1))
    response = client.get(f"/prices/history?{query}")
    assert response.status_code == 400
    assert f"more than {MAX_QUERY_PARAMS} parameters" in response.json()["detail"]
    assert CountingQueryParams.built == 0


def test_a_query_at_the_caps_reaches_the_routes(client: TestClient) -> None:
    query = "&".join(["coin=BTC"] + [f"x{i}=1" for i in range(MAX_QUERY_PARAMS - 2)] + ["coin=E"])
    response = client.get(f"/prices/latest?{query}")
    assert response.status_code == 400
    assert "coin is given more than once" in response.json()["detail"]


class CountingPairs:
    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs = pairs
        self.yielded = 0

    def __iter__(self) -> Iterator[tuple[str, str]]:
        for pair in self.pairs:
            self.yielded += 1
            yield pair


def test_the_repeat_check_reads_each_pair_at_most_once() -> None:
    pairs = CountingPairs([(f"p{i}", "") for i in range(10_000)])
    assert first_repeated(pairs) is None
    assert pairs.yielded == 10_000


names = st.lists(st.sampled_from(["coin", "start", "end", "interval", "x"]), max_size=12)


@given(names)
def test_the_repeat_check_names_the_first_name_given_twice(given_names: list[str]) -> None:
    expected = next((n for i, n in enumerate(given_names) if n in given_names[:i]), None)
    assert first_repeated((n, "v") for n in given_names) == expected
