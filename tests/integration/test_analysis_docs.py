"""docs/analysis.md runs as written: every code block, in order, on a lake as `make run` fills it.

The blocks run from a project folder holding the lake at `./.nebula` and `.venv` (a link to
this virtualenv), so `.venv/bin/nebula` and relative paths work as a reader types them. The
API is served on loopback and its address replaces `http://127.0.0.1:8000` in the blocks; it
is the one edit. Each result is then compared with the API's answer on the same lake.

What cannot run here is run as far as honest: Athena SQL is parsed as Trino (sqlglot), must
filter on `dt`, and runs translated to DuckDB over the Glue tables' files; pyathena runs
against moto's Athena and the SQL it sent runs the same way; Grafana's Athena macros are
expanded as the plugin's source defines them; the Infinity panel's URL is requested.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import duckdb
import httpx
import numpy as np
import pandas as pd
import pytest
import sqlglot
import yaml
from moto import mock_aws
from moto.athena.models import athena_backends
from moto.core import DEFAULT_ACCOUNT_ID
from sqlglot import exp

from api.app import create_app
from api.deps import get_settings
from nebulastream.query.duckdb import DuckDBEngine
from nebulastream.server import ApiServer
from nebulastream.settings import Settings
from nebulastream.timeutil import floor_to, iso_z
from tests import analysis_lake

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "analysis.md"
DOC_URL = "http://127.0.0.1:8000"
VENV = Path(sys.executable).parent.parent
REGION = "us-east-1"
pytestmark = pytest.mark.xdist_group("analysis-docs")


@dataclass(frozen=True)
class Block:
    number: int
    line: int
    info: str
    code: str

    @property
    def id(self) -> str:
        return f"{self.number:02d}-{self.info}-line{self.line}"


def blocks() -> list[Block]:
    text = DOC.read_text()
    found = []
    for match in re.finditer(r"^```(\w*)\n(.*?)^```$", text, flags=re.S | re.M):
        line = text.count("\n", 0, match.start()) + 1
        found.append(Block(len(found) + 1, line, match.group(1), match.group(2)))
    return found


BLOCKS = blocks()


@dataclass
class Project:
    folder: Path
    lake: Path
    url: str
    now: datetime

    @property
    def today(self) -> datetime:
        return floor_to(self.now, 86400)

    def api(self, path: str, **params: str) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", params=params, timeout=30)

    def history(self, coin: str, start: datetime, end: datetime, interval: str) -> pd.DataFrame:
        answer = self.api(
            "/prices/history", coin=coin, start=iso_z(start), end=iso_z(end), interval=interval
        )
        assert answer.status_code == 200, answer.text
        points = pd.DataFrame(answer.json()["points"])
        points["ts"] = pd.to_datetime(points["ts"], utc=True)
        return points

    def week(self) -> pd.DataFrame:
        """What every 'last 7 days' recipe computes: BTC's daily buckets before today."""
        return self.history("BTC", self.today - timedelta(days=7), self.today, "1d")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    folder = tmp_path_factory.mktemp("project")
    (folder / ".venv").symlink_to(VENV)
    now = analysis_lake.now_utc()
    lake = analysis_lake.build(folder / ".nebula", now)
    settings = Settings(lake_uri=str(lake))
    app = create_app()
    app.dependency_overrides[get_settings] = lambda: settings
    engine = DuckDBEngine(lake, recheck_seconds=0)
    app.state.engine = engine
    server = ApiServer(app, "127.0.0.1", 0)
    server.start()
    try:
        yield Project(folder, lake, server.url, now)
    finally:
        server.stop()
        engine.close()


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEBULA_")}
    env["COLUMNS"] = "200"
    return env  # no NEBULA_LAKE_URI: the default ./.nebula is the lake, as for a reader


def _substitute(code: str, project: Project) -> str:
    return code.replace(DOC_URL, project.url)


# -- checks against the API ------------------------------------------------------------------


def _frame(value: Any) -> pd.DataFrame:
    frame = value.to_pandas() if hasattr(value, "to_pandas") else value
    if "ts" not in frame.columns:
        frame = frame.reset_index()
    frame = frame.copy()
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    return frame.reset_index(drop=True)


def assert_same_daily(value: Any, project: Project) -> None:
    mine, api = _frame(value), project.week()
    assert len(api) == 7  # a full week of data, so the comparison means something
    assert list(mine["ts"]) == list(api["ts"])
    for column in ("open", "high", "low", "close", "samples"):
        assert [float(v) for v in mine[column]] == [float(v) for v in api[column]], column


def assert_returns_match(namespace: dict[str, Any], project: Project) -> None:
    api = project.history("BTC", project.today - timedelta(days=60), project.today, "1d")
    closes = np.array(api["close"], dtype=float)
    expected = np.diff(np.log(closes))
    assert len(expected) >= 7
    assert np.allclose(np.asarray(namespace["returns"], dtype=float), expected, rtol=0, atol=1e-12)
    assert math.isclose(
        float(namespace["volatility"]), float(np.std(expected, ddof=1) * math.sqrt(365))
    )


# -- Athena and Grafana, as far as they run here -----------------------------------------------


def glue_tables(lake: Path) -> duckdb.DuckDBPyConnection:
    """The Glue tables `prices` and `raw_prices` as DuckDB views over the same files."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")  # Athena's current_date is a UTC day
    con.execute(
        f"CREATE VIEW prices AS SELECT * FROM read_parquet('{lake}/curated/*/*.parquet', "
        "hive_partitioning = true, hive_types = {'dt': VARCHAR})"
    )
    con.execute(
        f"CREATE VIEW raw_prices AS SELECT * FROM read_json('{lake}/raw/*/*.jsonl', "
        "format = 'newline_delimited', hive_partitioning = true, hive_types = {'dt': VARCHAR})"
    )
    return con


def run_athena_sql(text: str, lake: Path) -> list[tuple[Any, ...]]:
    tree = sqlglot.parse_one(text, read="trino")
    tables = {t.name for t in tree.find_all(exp.Table)}
    assert tables & {"prices", "raw_prices"}
    where = tree.find(exp.Where)
    assert where is not None
    assert "dt" in {c.name for c in where.find_all(exp.Column)}, "no partition filter on dt"
    duck = sqlglot.transpile(text, read="trino", write="duckdb")[0]
    with glue_tables(lake) as con:
        # Through Arrow: DuckDB's own conversion of a TIMESTAMPTZ needs pytz, Arrow's does not.
        return [tuple(row.values()) for row in con.sql(duck).to_arrow_table().to_pylist()]


def expand_grafana_athena(text: str, start: datetime, end: datetime) -> str:
    """The Athena plugin's macros (pkg/athena/macros.go), for a fixed dashboard range."""

    def stamp(moment: datetime) -> str:
        return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")

    def group(match: re.Match[str]) -> str:
        column, interval = match.group(1), match.group(2)
        seconds = {"1m": 60, "5m": 300, "1h": 3600, "1d": 86400}[interval]
        return f"FROM_UNIXTIME(FLOOR(TO_UNIXTIME({column})/{seconds})*{seconds})"

    text = re.sub(r"\$__timeGroup\((\w+),\s*'(\w+)'\)", group, text)
    text = re.sub(
        r"\$__timeFilter\((\w+)\)",
        lambda m: f"{m.group(1)} BETWEEN TIMESTAMP '{stamp(start)}' AND TIMESTAMP '{stamp(end)}'",
        text,
    )
    text = text.replace("$__rawTimeFrom('yyyy-MM-dd')", f"'{start:%Y-%m-%d}'")
    text = text.replace("$__rawTimeTo('yyyy-MM-dd')", f"'{end:%Y-%m-%d}'")
    assert "$__" not in text, f"a macro the test does not expand: {text}"
    return text


def deployed_names() -> tuple[str, str]:
    """The dev stage's Glue database and workgroup, derived as resources/*.yml name them."""
    service = re.search(r"^service:\s*(\S+)", (REPO / "serverless.yml").read_text(), re.M)
    assert service is not None
    name = service.group(1)
    catalog = (REPO / "resources" / "catalog.yml").read_text()
    athena = (REPO / "resources" / "athena.yml").read_text()
    assert "!Join ['_', !Split ['-', '${self:service}_${sls:stage}']]" in catalog
    assert "Name: ${self:service}-${sls:stage}-workgroup" in athena
    return f"{name}_dev".replace("-", "_"), f"{name}-dev-workgroup"


def run_pyathena(code: str, project: Project) -> None:
    with mock_aws():
        database, workgroup = deployed_names()
        boto3.client("athena", region_name=REGION).create_work_group(
            Name=workgroup,
            Configuration={"ResultConfiguration": {"OutputLocation": "s3://results/athena/"}},
        )
        exec(compile(code, f"{DOC}:pyathena", "exec"), {"__name__": "__doc__"})
        backend = athena_backends[DEFAULT_ACCOUNT_ID][REGION]
        (execution,) = backend.executions.values()
        assert execution.workgroup.name == workgroup
        assert execution.context.get("Database") == database
        sent = execution.query
    rows = run_athena_sql(sent, project.lake)
    api = project.week()
    assert [r[0] for r in rows] == [f"{t:%Y-%m-%d}" for t in api["ts"]]
    assert [r[1] for r in rows] == list(api["close"])
    assert [r[2] for r in rows] == list(api["samples"])


def check_sql(code: str, project: Project) -> None:
    if "$__" in code:  # a Grafana Athena panel
        end = floor_to(project.now, 3600)
        start = end - timedelta(hours=24)
        rows = run_athena_sql(expand_grafana_athena(code, start, end), project.lake)
        api = project.history("BTC", start, end, "1h")
        btc = [(int(r[0].timestamp()), r[2]) for r in rows if r[1] == "BTC"]
        assert btc == [
            (int(t.timestamp()), c) for t, c in zip(api["ts"], api["close"], strict=True)
        ]
        return
    rows = run_athena_sql(code, project.lake)
    api = project.week()
    assert [r[0] for r in rows] == [f"{t:%Y-%m-%d}" for t in api["ts"]]
    for index, column in enumerate(("open", "high", "low", "close", "samples"), start=1):
        assert [r[index] for r in rows] == list(api[column]), column


def check_yaml(code: str, project: Project) -> None:
    config = yaml.safe_load(code)
    assert config["apiVersion"] == 1
    (source,) = config["datasources"]
    if source["type"] == "grafana-athena-datasource":
        database, workgroup = deployed_names()
        assert source["jsonData"]["database"] == database
        assert source["jsonData"]["workgroup"] == workgroup
        assert source["jsonData"]["catalog"] == "AwsDataCatalog"
    else:
        assert source["type"] == "yesoreyeram-infinity-datasource"
        assert DOC_URL in source["jsonData"]["allowedHosts"]


def check_json(code: str, project: Project) -> None:
    query = json.loads(code)
    assert query["type"] == "csv" and query["source"] == "url"
    assert query["url"].startswith(DOC_URL)
    end = floor_to(project.now, 3600)
    start = end - timedelta(hours=24)
    grafana = {"${__from:date:iso}": iso_z(start), "${__to:date:iso}": iso_z(end)}
    params = {p["key"]: grafana.get(p["value"], p["value"]) for p in query["url_options"]["params"]}
    answer = httpx.get(_substitute(query["url"], project), params=params, timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    table = pd.read_csv(io.StringIO(answer.text))
    selectors = [c["selector"] for c in query["columns"]]
    assert set(selectors) <= set(table.columns)
    api = project.history(params["coin"], start, end, params["interval"])
    assert len(api) > 0
    assert list(pd.to_datetime(table["ts"], utc=True)) == list(api["ts"])
    assert list(table["close"]) == list(api["close"])


def check_text(code: str, project: Project) -> None:
    """`$ command` lines and the error line each prints, as the doc shows them."""
    lines = code.splitlines()
    for index, line in enumerate(lines):
        if not line.startswith("$ "):
            continue
        expected = lines[index + 1]
        done = subprocess.run(
            ["bash", "-c", line[2:]],
            cwd=project.folder,
            env=_env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 2
        assert done.stderr.strip() == expected


def check_sh(code: str, project: Project) -> None:
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", _substitute(code, project)],
        cwd=project.folder,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    folder = project.folder
    if "nebula transform" in code:
        assert any((project.lake / "curated").rglob("*.parquet"))
        assert any((project.lake / "quarantine").rglob("*.jsonl"))
    if "daily-close.csv" in code:
        closes = pd.read_csv(folder / "daily-close.csv")
        btc = closes[closes["coin"] == "BTC"].reset_index(drop=True)
        api = project.history("BTC", project.today - timedelta(days=30), project.now, "1d")
        assert list(btc["dt"]) == [f"{t:%Y-%m-%d}" for t in api["ts"]]
        assert list(btc["close"]) == list(api["close"])
    if "format=csv" in code:
        (download,) = folder.glob("BTC-1d-*.csv")
        week = f"{project.today - timedelta(days=7):%Y%m%dT%H%MZ}-{project.today:%Y%m%dT%H%MZ}"
        assert download.name == f"BTC-1d-{week}.csv"
        assert_same_daily(pd.read_csv(download), project)
    if "btc-5m.parquet" in code:
        bars = pd.read_parquet(folder / "btc-5m.parquet")
        day = project.history("BTC", project.today - timedelta(days=1), project.today, "5m")
        last_day = bars[bars["ts"] >= project.today - timedelta(days=1)].reset_index(drop=True)
        assert len(last_day) == len(day) > 0
        assert list(last_day["ts"]) == list(day["ts"])
        assert list(last_day["close"]) == list(day["close"])
        eth = pd.read_csv(folder / "eth-1h.csv")
        api = project.history("ETH", project.today - timedelta(days=2), project.today, "1h")
        tail = eth[pd.to_datetime(eth["ts"], utc=True) >= project.today - timedelta(days=2)]
        assert list(tail["close"]) == list(api["close"])


def check_python(code: str, project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    if "pyathena" in code:
        run_pyathena(code, project)
        return
    monkeypatch.chdir(project.folder)
    namespace: dict[str, Any] = {"__name__": "__doc__"}
    exec(compile(_substitute(code, project), f"{DOC}", "exec"), namespace)
    if "returns" in namespace:
        assert_returns_match(namespace, project)
    elif "daily" in namespace:
        assert_same_daily(namespace["daily"], project)


CHECKS = {"sh": check_sh, "sql": check_sql, "yaml": check_yaml, "json": check_json}


@pytest.mark.parametrize("block", BLOCKS, ids=[b.id for b in BLOCKS])
def test_recipe_runs_as_written_and_agrees_with_the_api(
    block: Block, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    if block.info == "python":
        check_python(block.code, project, monkeypatch)
    elif block.info == "text":
        check_text(block.code, project)
    else:
        CHECKS[block.info](block.code, project)


def test_every_tool_the_issue_names_has_a_recipe() -> None:
    kinds = [b.info for b in BLOCKS]
    assert set(kinds) <= {"sh", "python", "sql", "yaml", "json", "text"}, kinds
    text = DOC.read_text()
    for needle in ("read_parquet", "scan_parquet", "LakeViews", "pyathena", "$__timeFilter"):
        assert needle in text
    assert kinds.count("python") >= 6 and kinds.count("sql") == 2
