"""The HTTP contract on DuckDB over real curated Parquet and raw batches."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from nebulastream.query.duckdb import DuckDBEngine
from tests.integration.api_lake import build_lake, client_for, settings_for


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_lake(tmp_path_factory.mktemp("lake"))


@pytest.fixture(scope="module")
def client(lake: Path) -> Iterator[TestClient]:
    engine = DuckDBEngine(lake, recheck_seconds=0)
    with client_for(engine, settings_for(lake)) as client:
        yield client
    engine.close()


def test_latest_returns_every_contract_field_with_the_stored_values(client: TestClient) -> None:
    response = client.get("/prices/latest")
    assert response.status_code == 200
    body = response.json()
    assert body["as_of"] == "2026-11-28T04:06:10.000Z"
    assert body["prices"] == [
        {
            "coin": "BTC",
            "price_usd": 67187.3,
            "market_cap_usd": 1.32e12,
            "volume_24h_usd": 3.1e10,
            "change_24h_pct": -1.23,
            "ts": "2026-11-28T04:03:12.000Z",
            "source": "coingecko",
        },
        {
            "coin": "ETH",
            "price_usd": 3105.5,
            "market_cap_usd": 1.0e12,
            "volume_24h_usd": 3.0e10,
            "change_24h_pct": -1.5,
            "ts": "2026-11-28T04:00:10.000Z",
            "source": "coingecko",
        },
        {
            "coin": "SOL",
            "price_usd": 200.0,
            "market_cap_usd": 1.0e12,
            "volume_24h_usd": 3.0e10,
            "change_24h_pct": None,
            "ts": "2026-10-01T10:00:00.000Z",
            "source": "coingecko",
        },
    ]


def test_a_price_fetched_a_moment_ago_is_served_before_any_transform(client: TestClient) -> None:
    latest = client.get("/prices/latest", params={"coin": "btc"}).json()["prices"]
    assert [(p["coin"], p["price_usd"]) for p in latest] == [("BTC", 67187.3)]
    points = client.get(
        "/prices/history",
        params={"coin": "BTC", "start": "2026-11-28T00:00:00Z", "interval": "1h"},
    ).json()["points"]
    assert [(p["ts"], p["close"]) for p in points] == [("2026-11-28T04:00:00.000Z", 67187.3)]


def test_raw_and_curated_copies_of_one_observation_count_once_latest_fetch_wins(
    client: TestClient,
) -> None:
    points = client.get(
        "/prices/history",
        params={"coin": "ETH", "start": "2026-11-28T00:00:00Z", "end": "2026-11-29T00:00:00Z"},
    ).json()["points"]
    assert [(p["ts"], p["open"], p["samples"]) for p in points] == [
        ("2026-11-28T04:00:00.000Z", 3105.5, 1)
    ]
    coins = {c["coin"]: c for c in client.get("/coins").json()["coins"]}
    assert coins["ETH"]["rows"] == 2


def test_latest_filters_coins_and_leaves_out_coins_without_data(client: TestClient) -> None:
    body = client.get("/prices/latest", params={"coin": "SOL,eth,DOGE"}).json()
    assert [p["coin"] for p in body["prices"]] == ["SOL", "ETH"]


@pytest.mark.parametrize("coin", ["", " , ,", "BTC, ETH", "BTC,", "\u017fol", "BTC\u0660"])
def test_latest_takes_only_the_documented_symbol_list(client: TestClient, coin: str) -> None:
    # U+017F upper-cases to 'S' (SOL); U+0660 is an Arabic-Indic zero: neither is ASCII.
    response = client.get("/prices/latest", params={"coin": coin})
    assert response.status_code == 400
    assert "ASCII letters and digits, comma-separated" in response.json()["detail"]


def test_history_buckets_are_epoch_aligned_ohlc_with_empty_buckets_left_out(
    client: TestClient,
) -> None:
    body = client.get(
        "/prices/history",
        params={
            "coin": "BTC",
            "start": "2026-11-27T00:00:00Z",
            "end": "2026-11-28T00:00:00Z",
            "interval": "1h",
        },
    ).json()
    assert body["coin"] == "BTC"
    assert body["interval"] == "1h"
    assert body["start"] == "2026-11-27T00:00:00.000Z"
    assert body["end"] == "2026-11-28T00:00:00.000Z"
    assert body["points"] == [
        {
            "ts": "2026-11-27T00:00:00.000Z",
            "open": 100.0,
            "high": 110.0,
            "low": 90.0,
            "close": 90.0,
            "samples": 3,
            "market_cap_usd": 1.0e12,
            "volume_24h_usd": 3.0e10,
            "sources": ["coingecko"],
        },
        {
            "ts": "2026-11-27T01:00:00.000Z",
            "open": 120.0,
            "high": 120.0,
            "low": 120.0,
            "close": 120.0,
            "samples": 1,
            "market_cap_usd": 1.0e12,
            "volume_24h_usd": 3.0e10,
            "sources": ["coingecko"],
        },
        {
            "ts": "2026-11-27T03:00:00.000Z",
            "open": 130.0,
            "high": 130.0,
            "low": 130.0,
            "close": 130.0,
            "samples": 1,
            "market_cap_usd": 1.0e12,
            "volume_24h_usd": 3.0e10,
            "sources": ["coingecko"],
        },
        {
            "ts": "2026-11-27T04:00:00.000Z",
            "open": 140.0,
            "high": 140.0,
            "low": 140.0,
            "close": 140.0,
            "samples": 1,
            "market_cap_usd": 2.0e12,
            "volume_24h_usd": 3.0e10,
            "sources": ["coingecko"],
        },
        {
            "ts": "2026-11-27T23:00:00.000Z",
            "open": 150.0,
            "high": 150.0,
            "low": 150.0,
            "close": 150.0,
            "samples": 1,
            "market_cap_usd": None,
            "volume_24h_usd": 4.0e10,
            "sources": ["coingecko"],
        },
    ]


@pytest.mark.parametrize(
    ("interval", "expected"),
    [
        (
            "4h",
            [
                ("2026-11-27T00:00:00.000Z", 100.0, 130.0, 90.0, 130.0, 5),
                ("2026-11-27T04:00:00.000Z", 140.0, 140.0, 140.0, 140.0, 1),
                ("2026-11-27T20:00:00.000Z", 150.0, 150.0, 150.0, 150.0, 1),
                ("2026-11-28T04:00:00.000Z", 67187.3, 67187.3, 67187.3, 67187.3, 1),
            ],
        ),
        (
            "1d",
            [
                ("2026-11-27T00:00:00.000Z", 100.0, 150.0, 90.0, 150.0, 7),
                ("2026-11-28T00:00:00.000Z", 67187.3, 67187.3, 67187.3, 67187.3, 1),
            ],
        ),
        (
            "15m",
            [
                ("2026-11-27T00:00:00.000Z", 100.0, 100.0, 100.0, 100.0, 1),
                ("2026-11-27T00:15:00.000Z", 110.0, 110.0, 110.0, 110.0, 1),
                ("2026-11-27T00:30:00.000Z", 90.0, 90.0, 90.0, 90.0, 1),
                ("2026-11-27T01:00:00.000Z", 120.0, 120.0, 120.0, 120.0, 1),
                ("2026-11-27T03:45:00.000Z", 130.0, 130.0, 130.0, 130.0, 1),
                ("2026-11-27T04:00:00.000Z", 140.0, 140.0, 140.0, 140.0, 1),
                ("2026-11-27T23:45:00.000Z", 150.0, 150.0, 150.0, 150.0, 1),
                ("2026-11-28T04:00:00.000Z", 67187.3, 67187.3, 67187.3, 67187.3, 1),
            ],
        ),
    ],
)
def test_buckets_start_at_multiples_of_the_interval_since_the_epoch(
    client: TestClient, interval: str, expected: list[tuple[object, ...]]
) -> None:
    points = client.get(
        "/prices/history",
        params={
            "coin": "BTC",
            "start": "2026-11-26T22:00:00Z",
            "end": "2026-11-28T06:00:00Z",
            "interval": interval,
        },
    ).json()["points"]
    got = [(p["ts"], p["open"], p["high"], p["low"], p["close"], p["samples"]) for p in points]
    assert got == expected


def test_last_market_cap_of_a_bucket_is_the_last_observations_even_when_null(
    client: TestClient,
) -> None:
    points = client.get(
        "/prices/history",
        params={"coin": "BTC", "start": "1795737600", "end": "1795824000", "interval": "1d"},
    ).json()["points"]
    assert [(p["ts"], p["market_cap_usd"], p["volume_24h_usd"]) for p in points] == [
        ("2026-11-27T00:00:00.000Z", None, 4.0e10)
    ]


def test_range_is_half_open_start_included_end_excluded(client: TestClient) -> None:
    points = client.get(
        "/prices/history",
        params={
            "coin": "BTC",
            "start": "2026-11-27T00:20:00Z",
            "end": "2026-11-27T04:00:00Z",
            "interval": "5m",
        },
    ).json()["points"]
    assert [(p["ts"], p["close"]) for p in points] == [
        ("2026-11-27T00:20:00.000Z", 110.0),
        ("2026-11-27T00:40:00.000Z", 90.0),
        ("2026-11-27T01:10:00.000Z", 120.0),
        ("2026-11-27T03:55:00.000Z", 130.0),
    ]


def test_a_sub_millisecond_bound_keeps_the_range_exact(client: TestClient) -> None:
    points = client.get(
        "/prices/history",
        params={
            "coin": "BTC",
            "start": "2026-11-27T00:20:00.000001Z",
            "end": "2026-11-27T03:59:59.9985Z",
        },
    ).json()["points"]
    assert [p["close"] for p in points] == [90.0, 120.0]


def test_default_range_is_the_24_hours_before_the_next_slot(client: TestClient) -> None:
    body = client.get("/prices/history", params={"coin": "BTC"}).json()
    assert (body["start"], body["end"]) == ("2026-11-27T04:10:00.000Z", "2026-11-28T04:10:00.000Z")
    assert [p["ts"] for p in body["points"]] == [
        "2026-11-27T23:55:00.000Z",
        "2026-11-28T04:00:00.000Z",
    ]


def test_coins_lists_first_last_and_deduplicated_row_counts(client: TestClient) -> None:
    # Completeness (docs/heal.md): slots with an observation / expected 5-minute slots from the
    # coin's first slot to the lake's last (2026-11-28T04:00, so 04:05 exclusive).
    # BTC: 8 slots present of 337 (11-27T00:00 .. 11-28T04:05) in 6 runs of missing slots;
    # ETH: 2 of 193 (11-27T12:00 ..); SOL: 1 of 16,633 (10-01T10:00 ..), none in 30 days.
    def coin(name: str, first: str, last: str, rows: int, **grid: object) -> dict[str, object]:
        span = {"first_ts": first, "last_ts": last, "rows": rows}
        return {"coin": name, **span, "sources": [{"source": "coingecko", **span}], **grid}

    assert client.get("/coins").json() == {
        "coins": [
            coin(
                "BTC",
                "2026-11-27T00:00:30.000Z",
                "2026-11-28T04:03:12.000Z",
                8,
                completeness=round(8 / 337, 6),
                completeness_30d=round(8 / 337, 6),
                gaps=6,
                missing_slots=329,
            ),
            coin(
                "ETH",
                "2026-11-27T12:00:00.000Z",
                "2026-11-28T04:00:10.000Z",
                2,
                completeness=round(2 / 193, 6),
                completeness_30d=round(2 / 193, 6),
                gaps=1,
                missing_slots=191,
            ),
            coin(
                "SOL",
                "2026-10-01T10:00:00.000Z",
                "2026-10-01T10:00:00.000Z",
                1,
                completeness=round(1 / 16633, 6),
                completeness_30d=0.0,
                gaps=1,
                missing_slots=16632,
            ),
        ]
    }


def test_health_marks_coins_older_than_two_fetch_intervals_stale(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["status"] == "stale"
    assert body["engine"] == "duckdb"
    assert body["fetch_interval_seconds"] == 300
    assert body["checked_at"] == "2026-11-28T04:06:10.000Z"
    assert [(c["coin"], c["age_seconds"], c["stale"]) for c in body["coins"]] == [
        ("BTC", 178.0, False),
        ("ETH", 360.0, False),
        ("SOL", 4989970.0, True),
    ]


def test_health_is_ok_when_every_configured_coin_is_fresh(lake: Path) -> None:
    engine = DuckDBEngine(lake, recheck_seconds=0)
    # A heal interval of a day: no gap of the last 24 hours has outlived a heal yet.
    settings = settings_for(lake, coins="BTC,ETH", heal_interval_seconds=86400)
    with client_for(engine, settings) as client:
        body = client.get("/health").json()
    assert body["status"] == "ok"
    assert [c["stale"] for c in body["coins"]] == [False, False]
    assert [c["gaps_24h"] for c in body["coins"]] == [2, 1]


def test_health_is_degraded_when_a_gap_of_the_last_day_outlived_a_heal(lake: Path) -> None:
    # BTC misses 2026-11-27T04:05 .. 23:55 and 11-28T00:00 .. 04:00; ETH 11-27T12:05 .. 11-28T04:00.
    engine = DuckDBEngine(lake, recheck_seconds=0)
    hourly = settings_for(lake, coins="BTC,ETH")  # the default heal interval, an hour
    with client_for(engine, hourly) as client:
        body = client.get("/health").json()
    assert body["status"] == "degraded"
    assert [(c["coin"], c["stale"], c["gaps_24h"]) for c in body["coins"]] == [
        ("BTC", False, 2),
        ("ETH", False, 1),
    ]


MALFORMED, UNKNOWN, BREAKS_A_RULE = 400, 404, 422


@pytest.mark.parametrize(
    ("path", "params", "status", "says"),
    [
        ("/prices/latest", {"coin": "BTC,NOPE"}, UNKNOWN, "Unknown coin 'NOPE'"),
        ("/prices/history", {"coin": "NOPE"}, UNKNOWN, "Unknown coin 'NOPE'"),
        ("/prices/history", {"coin": "BTC' OR '1'='1"}, MALFORMED, "ASCII letters and digits"),
        ("/prices/history", {"coin": "BTC;DROP TABLE prices"}, MALFORMED, "ASCII letters"),
        ("/prices/history", {}, MALFORMED, "coin is required"),
        ("/prices/history", {"coin": "BTC,ETH"}, MALFORMED, "ASCII letters and digits"),
        ("/prices/history", {"coin": ","}, MALFORMED, "ASCII letters and digits"),
        ("/prices/history", {"coin": ["BTC", "ETH"]}, MALFORMED, "coin is given more than once"),
        ("/prices/latest", {"coin": ["BTC", "ETH"]}, MALFORMED, "coin=BTC,ETH"),
        ("/prices/history", {"coin": "BTC", "interval": ["1h", "1d"]}, MALFORMED, "interval is"),
        ("/prices/history", {"coin": "BTC", "start": "yesterday"}, MALFORMED, "RFC 3339"),
        ("/prices/history", {"coin": "BTC", "end": "2026-13-01T00:00:00Z"}, MALFORMED, "RFC"),
        ("/prices/history", {"coin": "BTC", "end": "2026-11-01T00:00:00"}, MALFORMED, "RFC"),
        ("/prices/history", {"coin": "BTC", "end": "2026-11-01"}, MALFORMED, "RFC 3339"),
        ("/prices/history", {"coin": "BTC", "end": "2026-W44-1T00:00:00Z"}, MALFORMED, "RFC"),
        ("/prices/history", {"coin": "BTC", "end": "1_764_547_200"}, MALFORMED, "Unix seconds"),
        ("/prices/history", {"coin": "BTC", "end": "\u0661764547200"}, MALFORMED, "Unix"),
        ("/prices/history", {"coin": "BTC", "start": "1e30"}, MALFORMED, "start="),
        ("/prices/history", {"coin": "BTC", "start": "nan"}, MALFORMED, "start="),
        ("/prices/history", {"coin": "BTC", "end": "-99999999999"}, MALFORMED, "Unix seconds"),
        (
            "/prices/history",
            {"coin": "BTC", "end": "2026-02-30T00:00:00Z"},
            BREAKS_A_RULE,
            "calendar",
        ),
        (
            "/prices/history",
            {"coin": "BTC", "start": "0001-01-01T00:00:00+01:00"},
            BREAKS_A_RULE,
            "out of range",
        ),
        (
            "/prices/history",
            {"coin": "BTC", "end": "9999-12-31T23:59:59-01:00"},
            BREAKS_A_RULE,
            "out of range",
        ),
        (
            "/prices/history",
            {"coin": "BTC", "end": "0001-01-01T00:00:00Z"},
            BREAKS_A_RULE,
            "end='0001",
        ),
        (
            "/prices/history",
            {"coin": "BTC", "start": "9999-12-31T23:59:59Z"},
            BREAKS_A_RULE,
            "range",
        ),
        (
            "/prices/history",
            {"coin": "BTC", "start": "2026-11-28T00:00:00Z", "end": "2026-11-28T00:00:00Z"},
            BREAKS_A_RULE,
            "must be before end",
        ),
        (
            "/prices/history",
            {"coin": "BTC", "interval": "2m"},
            MALFORMED,
            "'5m', '15m', '1h', '4h' or '1d'",
        ),
        (
            "/prices/history",
            {"coin": "BTC", "start": "2025-01-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"},
            BREAKS_A_RULE,
            "use interval=1h (8,760 points)",
        ),
    ],
)
def test_bad_input_is_a_4xx_saying_what_to_change(
    client: TestClient, path: str, params: dict[str, str | list[str]], status: int, says: str
) -> None:
    """400: not in the form the OpenAPI states; 404: no such coin; 422: in that form, but
    breaking a rule no schema states (start < end, the bucket limit, the calendar)."""
    response = client.get(path, params=params)
    assert response.status_code == status
    assert says in response.json()["detail"]


def test_answers_may_be_cached_until_the_next_fetch_slot(client: TestClient) -> None:
    for path in ("/prices/latest", "/prices/history?coin=BTC", "/coins"):
        # 04:06:10 -> the 04:10 slot is 230 s away.
        assert client.get(path).headers["cache-control"] == "public, max-age=230"


def test_get_is_allowed_from_any_origin(client: TestClient) -> None:
    response = client.get("/prices/latest", headers={"Origin": "https://dash.example"})
    assert response.headers["access-control-allow-origin"] == "*"
    preflight = client.options(
        "/prices/latest",
        headers={"Origin": "https://dash.example", "Access-Control-Request-Method": "GET"},
    )
    assert preflight.status_code == 200
    assert "GET" in preflight.headers["access-control-allow-methods"]


def test_large_histories_are_gzipped(client: TestClient) -> None:
    params = {"coin": "BTC", "start": "2026-11-27T00:00:00Z", "end": "2026-11-29T00:00:00Z"}
    big = client.get("/prices/history", params=params, headers={"Accept-Encoding": "gzip"})
    assert big.headers["content-encoding"] == "gzip"
    assert len(big.json()["points"]) == 8
    small = client.get(
        "/prices/latest", params={"coin": "SOL"}, headers={"Accept-Encoding": "gzip"}
    )
    assert "content-encoding" not in small.headers
    assert gzip.compress(small.content)  # plain JSON body


def test_root_points_to_the_docs(client: TestClient) -> None:
    response = client.get("/", follow_redirects=False)
    assert response.status_code == 307
    assert response.headers["location"] == "/docs"
    assert "swagger-ui" in client.get("/docs").text


@pytest.mark.parametrize("column", ["observed_at", "fetched_at", "slot"])
def test_a_raw_line_with_an_unreadable_time_is_left_out_not_a_503(
    tmp_path: Path, column: str
) -> None:
    root = build_lake(tmp_path)
    [batch] = (root / "raw").rglob("*.jsonl")
    lines = batch.read_text().splitlines()
    bad = json.loads(lines[0]) | {"coin": "SOL", "price_usd": 1.0, column: "28/11/2026 04:03"}
    batch.with_name("zz-" + batch.name).write_text(json.dumps(bad) + "\n")
    engine = DuckDBEngine(root, recheck_seconds=0)
    with client_for(engine, settings_for(root)) as client:
        response = client.get("/prices/latest")
    engine.close()
    assert response.status_code == 200, response.text
    prices = {p["coin"]: p["price_usd"] for p in response.json()["prices"]}
    assert prices == {"BTC": 67187.3, "ETH": 3105.5, "SOL": 200.0}
