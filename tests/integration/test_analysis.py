"""`nebula sql`'s views, the CSV download and `nebula export`, against the API on the same lake."""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nebulastream.query import export, service, sql
from nebulastream.query.duckdb import DuckDBEngine
from nebulastream.query.service import Interval
from nebulastream.query.views import LakeViews, SqlFailed, SqlRefused, inline
from nebulastream.timeutil import floor_to, iso_z
from tests.integration.api_lake import NOW, build_lake, client_for, settings_for
from tests.lake_fixtures import utc

NEBULA = Path(sys.executable).parent / "nebula"
START, END = utc("2026-11-26T22:00:00Z"), utc("2026-11-28T06:00:00Z")
RAW_SINCE = NOW.date() - timedelta(days=2)  # the API's default NEBULA_RAW_LOOKBACK_DAYS


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_lake(tmp_path_factory.mktemp("analysis-lake"))


@pytest.fixture(scope="module")
def engine(lake: Path) -> Iterator[DuckDBEngine]:
    engine = DuckDBEngine(lake, recheck_seconds=0)
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def client(lake: Path, engine: DuckDBEngine) -> Iterator[TestClient]:
    with client_for(engine, settings_for(lake)) as client:
        yield client


@pytest.fixture(scope="module")
def views(lake: Path) -> Iterator[LakeViews]:
    with LakeViews(lake, raw_since=RAW_SINCE) as views:
        yield views


def history(client: TestClient, **params: str) -> Any:
    answer = client.get("/prices/history", params=params)
    assert answer.status_code == 200, answer.text
    return answer


def lake_bytes(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


# -- the views hold what the API answers from ------------------------------------------------


@pytest.mark.parametrize("coin", ["BTC", "ETH"])
@pytest.mark.parametrize("interval", list(Interval))
def test_the_apis_history_sql_over_the_prices_view_gives_the_apis_answer(
    client: TestClient, views: LakeViews, coin: str, interval: Interval
) -> None:
    answer = history(
        client, coin=coin, start=iso_z(START), end=iso_z(END), interval=interval.value
    ).json()
    days = (START.date(), END.date())
    statement = sql.history(
        coin, START.replace(tzinfo=None), END.replace(tzinfo=None), interval.seconds, days, "duckdb"
    )
    rows = views.query(f"WITH observations AS (SELECT * FROM prices) {inline(statement)}").rows()
    assert rows  # the range holds data for both coins
    assert [(iso_z(utc_from(r[0])), r[1], r[2], r[3], r[4], r[5], r[6], r[7]) for r in rows] == [
        (
            p["ts"],
            p["open"],
            p["high"],
            p["low"],
            p["close"],
            p["samples"],
            p["market_cap_usd"],
            p["volume_24h_usd"],
        )
        for p in answer["points"]
    ]


def utc_from(seconds: int) -> datetime:
    return datetime.fromtimestamp(int(seconds), tz=UTC)


def z(naive: datetime) -> str:
    """A lake time (naive, holding UTC) as the API writes it."""
    return iso_z(naive.replace(tzinfo=UTC))


def test_prices_counts_each_observation_once_as_coins_does(
    client: TestClient, views: LakeViews
) -> None:
    coins = {c["coin"]: c for c in client.get("/coins").json()["coins"] if c["rows"]}
    rows = views.query(
        "SELECT coin, count(*), min(ts), max(ts) FROM prices GROUP BY coin ORDER BY coin"
    ).rows()
    assert [(c, n, z(lo), z(hi)) for c, n, lo, hi in rows] == [
        (c["coin"], c["rows"], c["first_ts"], c["last_ts"]) for c in coins.values()
    ]


def test_prices_has_the_fresh_raw_row_and_the_latest_copy_and_none_curation_rejects(
    client: TestClient, views: LakeViews
) -> None:
    latest = {p["coin"]: p["price_usd"] for p in client.get("/prices/latest").json()["prices"]}
    newest = dict(
        views.query(
            "SELECT coin, arg_max(price_usd, ts) FROM prices GROUP BY coin ORDER BY coin"
        ).rows()
    )
    assert newest == latest
    assert newest["BTC"] == 67187.3  # fetched a moment ago, not curated
    assert newest["ETH"] == 3105.5  # re-observed: the later fetch wins over the curated copy
    assert views.query("SELECT count(*) FROM prices WHERE coin = 'DOGE'").rows() == [(0,)]
    assert views.query("SELECT count(*) FROM raw WHERE coin = 'DOGE'").rows() == [(1,)]


def test_views_lists_every_view_with_its_columns(views: LakeViews) -> None:
    listed = {v.name: [c for c, _ in v.columns] for v in views.views()}
    assert list(listed) == ["prices", "raw", "quarantine"]
    assert listed["prices"] == [*sql.COLUMNS, "dt"]
    assert listed["quarantine"][:2] == ["rule", "raw_key"]


def test_an_empty_lake_has_empty_views(tmp_path: Path) -> None:
    (tmp_path / "lake").mkdir()
    with LakeViews(tmp_path / "lake", raw_since=RAW_SINCE) as empty:
        for name in ("prices", "raw", "quarantine"):
            assert empty.query(f"SELECT count(*) FROM {name}").rows() == [(0,)]


# -- read-only --------------------------------------------------------------------------------

ATTEMPTS = [
    "COPY prices TO '{lake}/curated/dt=2026-11-27/evil.parquet' (FORMAT parquet)",
    "COPY (SELECT 1) TO '{lake}/raw/x.csv'",
    "CREATE TABLE t AS SELECT * FROM prices",
    "CREATE VIEW v AS SELECT 1",
    "INSERT INTO prices SELECT * FROM prices",
    "DELETE FROM prices",
    "UPDATE prices SET price_usd = 0",
    "DROP VIEW prices",
    "ATTACH '{lake}/curated/evil.duckdb' AS evil",
    "SET enable_external_access = true",
    "RESET lock_configuration",
    "INSTALL httpfs",
    "LOAD httpfs",
    "PRAGMA enable_profiling",
    "CALL pragma_version()",
    "EXPLAIN ANALYZE COPY (SELECT 1) TO '{lake}/curated/e.csv'",
    "SELECT 1; COPY (SELECT 1) TO '{lake}/curated/s.csv'",
    "SELECT * FROM query('COPY (SELECT 1) TO ''{lake}/curated/q.csv''')",
    "SELECT * FROM read_text('/etc/hostname')",
    "SELECT * FROM read_csv('{lake}/../outside.csv')",
    "EXPORT DATABASE '{lake}/curated/db'",
    "CHECKPOINT",
]


@pytest.mark.parametrize("attempt", ATTEMPTS)
def test_nothing_but_a_select_over_the_lake_runs(lake: Path, attempt: str) -> None:
    (lake.parent / "outside.csv").write_text("a\n1\n")
    before = lake_bytes(lake)
    with LakeViews(lake, raw_since=RAW_SINCE) as views, pytest.raises((SqlRefused, SqlFailed)):
        views.query(attempt.format(lake=lake))
    assert lake_bytes(lake) == before


def test_reading_the_lake_files_directly_is_allowed(lake: Path, views: LakeViews) -> None:
    rows = views.query(f"SELECT count(*) FROM read_parquet('{lake}/curated/*/*.parquet')").rows()
    assert rows[0][0] > 0


# -- the CSV download --------------------------------------------------------------------------


@pytest.mark.parametrize("interval", list(Interval))
def test_csv_round_trips_through_pandas_to_the_json_values(
    client: TestClient, interval: Interval
) -> None:
    params = {"coin": "BTC", "start": iso_z(START), "end": iso_z(END), "interval": interval.value}
    points = history(client, **params).json()["points"]
    answer = history(client, **params, format="csv")
    from_csv = pd.read_csv(io.StringIO(answer.text))
    from_csv["ts"] = pd.to_datetime(from_csv["ts"], utc=True)
    from_json = pd.DataFrame(points)
    from_json["ts"] = pd.to_datetime(from_json["ts"], utc=True)
    from_json["sources"] = from_json["sources"].str.join(";")  # one field, names split by ';'
    assert len(from_json) > 0
    pd.testing.assert_frame_equal(from_csv, from_json[list(from_csv.columns)], check_dtype=False)
    assert list(from_csv.columns) == list(export.COLUMNS) == list(points[0])
    # a missing value is an empty field, read back as missing (BTC 23:59 has no market cap)
    assert answer.text.count(",,") == from_json["market_cap_usd"].isna().sum()


def test_csv_download_is_named_after_coin_interval_and_range_and_cached_like_json(
    client: TestClient,
) -> None:
    params = {"coin": "eth", "start": "2026-11-27T00:00:00Z", "end": "1795824000"}
    answer = history(client, **params, interval="1h", format="csv")
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    assert answer.headers["content-disposition"] == (
        'attachment; filename="ETH-1h-20261127T0000Z-20261128T0000Z.csv"'
    )
    json_answer = history(client, **params, interval="1h")
    assert answer.headers["cache-control"] == json_answer.headers["cache-control"]
    assert answer.text.startswith(
        "ts,open,high,low,close,samples,market_cap_usd,volume_24h_usd,sources\r\n"
    )
    assert "2026-11-27T12:00:00.000Z,3000.0," in answer.text


def test_an_unknown_format_is_a_400_saying_what_to_use(client: TestClient) -> None:
    answer = client.get("/prices/history", params={"coin": "BTC", "format": "xlsx"})
    assert answer.status_code == 400
    assert "format=" in answer.json()["detail"]
    assert "'json' or 'csv'" in answer.json()["detail"]


def test_openapi_documents_the_csv_answer_and_the_format_parameter(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/prices/history"]["get"]
    ok = operation["responses"]["200"]
    assert set(ok["content"]) == {"application/json", "text/csv"}
    assert "Content-Disposition" in ok["headers"]
    (parameter,) = [p for p in operation["parameters"] if p["name"] == "format"]
    assert parameter["schema"]["enum"] == ["json", "csv"]
    assert parameter["schema"]["default"] == "json"


# -- nebula export: any range, piece by piece -------------------------------------------------


@given(
    start_minutes=st.integers(0, 60 * 40),
    length_minutes=st.integers(1, 60 * 40),
    interval=st.sampled_from(list(Interval)),
    max_points=st.integers(1, 40),
)
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_pieces_tile_the_range_at_bucket_boundaries_within_the_point_limit(
    start_minutes: int,
    length_minutes: int,
    interval: Interval,
    max_points: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(export, "MAX_POINTS", max_points)
    start = START + timedelta(minutes=start_minutes, seconds=7)
    end = start + timedelta(minutes=length_minutes)
    pieces = export.pieces(start, end, interval)
    assert pieces[0][0] == start and pieces[-1][1] == end
    for (_, hi), (lo, _) in itertools.pairwise(pieces):
        assert hi == lo == floor_to(lo, interval.seconds)  # no bucket is cut in two
    for lo, hi in pieces:
        assert lo < hi
        assert service.bucket_count(lo, hi, interval) <= max_points


@given(
    start_minutes=st.integers(0, 60 * 30),
    length_minutes=st.integers(5, 60 * 30),
    interval=st.sampled_from(list(Interval)),
    max_points=st.integers(1, 12),
)
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_export_in_pieces_gives_the_buckets_of_one_api_answer(
    engine: DuckDBEngine,
    start_minutes: int,
    length_minutes: int,
    interval: Interval,
    max_points: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(export, "MAX_POINTS", max_points)
    start = START + timedelta(minutes=start_minutes)
    end = start + timedelta(minutes=length_minutes)
    whole = service.history(engine, "BTC", start, end, interval, NOW, 2)
    pieced = export.long_history(engine, "BTC", start, end, interval, NOW, 2)
    assert pieced.points == whole


# -- the commands, as a user runs them ---------------------------------------------------------


def nebula(lake: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # The fixture's raw batch is days old by the real clock, but newer than every curated file,
    # so the commands read it as the API does (DuckDBEngine.raw_days_read).
    env = {**os.environ, "NEBULA_LAKE_URI": str(lake), "COLUMNS": "200"}
    return subprocess.run(
        [str(NEBULA), *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )


def test_nebula_sql_writes_csv_json_and_parquet_with_the_views_rows(
    lake: Path, tmp_path: Path, views: LakeViews
) -> None:
    query = "SELECT coin, ts, price_usd, market_cap_usd FROM prices ORDER BY coin, ts"
    expected = views.query(query).rows()
    piped = nebula(lake, "sql", query)
    assert piped.returncode == 0, piped.stderr
    frame = pd.read_csv(io.StringIO(piped.stdout))
    assert len(frame) == len(expected)
    assert list(frame["price_usd"]) == [r[2] for r in expected]
    assert frame["ts"].iloc[0] == z(expected[0][1])
    lines = nebula(lake, "sql", query, "--format", "json").stdout.splitlines()
    assert [json.loads(line)["price_usd"] for line in lines] == [r[2] for r in expected]
    target = tmp_path / "prices.parquet"
    written = nebula(lake, "sql", query, "--output", str(target))
    assert written.returncode == 0, written.stderr
    assert pq.read_table(target).column("price_usd").to_pylist() == [r[2] for r in expected]
    listed = nebula(lake, "sql", "--views")
    assert all(name in listed.stdout for name in ("prices", "raw", "quarantine", "fetched_at"))


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("SELECT price FROM prices", 'Binder Error: Referenced column "price" not found'),
        ("DROP VIEW prices", "only SELECT queries run here, not DROP"),
        ("SELEC 1", 'Parser Error: syntax error at or near "SELEC"'),
    ],
)
def test_a_bad_query_is_one_line_with_duckdbs_message_and_exit_2(
    lake: Path, query: str, message: str
) -> None:
    done = nebula(lake, "sql", query)
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: {message}")
    assert len(done.stderr.strip().splitlines()) == 1


def test_nebula_sql_never_writes_into_the_lake(lake: Path) -> None:
    before = lake_bytes(lake)
    done = nebula(lake, "sql", "SELECT 1", "--output", str(lake / "curated" / "x.csv"))
    assert done.returncode == 2
    assert "inside the lake" in done.stderr
    assert lake_bytes(lake) == before


def test_nebula_export_csv_is_the_apis_csv_and_parquet_the_same_rows(
    lake: Path, client: TestClient, tmp_path: Path
) -> None:
    params = {"coin": "BTC", "start": iso_z(START), "end": iso_z(END), "interval": "15m"}
    api = history(client, **params, format="csv").text
    target = tmp_path / "btc.csv"
    done = nebula(
        lake,
        "export",
        "--coin",
        "btc",
        "--start",
        params["start"],
        "--end",
        params["end"],
        "--interval",
        "15m",
        "--output",
        str(target),
    )
    assert done.returncode == 0, done.stderr
    assert target.read_bytes().decode() == api
    parquet = tmp_path / "btc.parquet"
    done = nebula(
        lake,
        "export",
        "--coin",
        "BTC",
        "--start",
        params["start"],
        "--end",
        params["end"],
        "--interval",
        "15m",
        "--format",
        "parquet",
        "--output",
        str(parquet),
    )
    assert done.returncode == 0, done.stderr
    table = pq.read_table(parquet).to_pandas()
    from_csv = pd.read_csv(io.StringIO(api))
    assert [iso_z(t) for t in table["ts"]] == list(from_csv["ts"])
    assert list(table["close"]) == list(from_csv["close"])
    assert str(table["ts"].dt.tz) == "UTC"


def test_nebula_export_over_a_long_range_goes_piece_by_piece(lake: Path, tmp_path: Path) -> None:
    target = tmp_path / "long.csv"
    done = nebula(
        lake,
        "export",
        "--coin",
        "BTC",
        "--start",
        "2026-10-01T00:00:00Z",
        "--end",
        "2026-11-29T00:00:00Z",
        "--interval",
        "5m",
        "--output",
        str(target),
    )
    assert done.returncode == 0, done.stderr
    rows = pd.read_csv(target)
    assert len(rows) == 8  # every BTC 5-minute bucket of the lake, across 2 pieces (17,000 buckets)
    assert "wrote 8 5m bucket(s) of BTC" in done.stderr


def test_nebula_export_refuses_bad_input_in_one_line(lake: Path, tmp_path: Path) -> None:
    done = nebula(
        lake,
        "export",
        "--coin",
        "DOGEX",
        "--start",
        "2026-11-27T00:00:00Z",
        "--end",
        "2026-11-28T00:00:00Z",
        "--output",
        str(tmp_path / "x.csv"),
    )
    assert done.returncode == 2
    assert "Unknown coin 'DOGEX'" in done.stderr
    done = nebula(
        lake,
        "export",
        "--coin",
        "BTC",
        "--start",
        "2026-11-28T00:00:00Z",
        "--end",
        "2026-11-27T00:00:00Z",
        "--output",
        str(tmp_path / "x.csv"),
    )
    assert done.returncode == 2
    assert "must be before end" in done.stderr
    assert not (tmp_path / "x.csv").exists()
