"""The API Lambda: Mangum on API Gateway HTTP API v2 events, stage paths included."""

from __future__ import annotations

import base64
import copy
import gzip
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from api.app import app
from api.deps import get_clock, get_engine
from nebulastream.query.duckdb import DuckDBEngine
from nebulastream.settings import get_settings
from tests.integration.api_lake import NOW, build_lake, settings_for

FIXTURES = Path(__file__).parent.parent / "fixtures"


def _event(path: str, query: str = "", stage: str = "dev") -> dict[str, Any]:
    event: dict[str, Any] = json.loads((FIXTURES / "apigw_http_v2_docs_event.json").read_text())
    event = copy.deepcopy(event)
    full = path if stage == "$default" else f"/{stage}{path}"
    event["rawPath"] = event["requestContext"]["http"]["path"] = full
    event["rawQueryString"] = query
    event["requestContext"]["stage"] = stage
    return event


@pytest.fixture
def handler(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("NEBULA_LAKE_URI", str(tmp_path))
    from handlers import api as lambda_api

    root = build_lake(tmp_path)
    engine = DuckDBEngine(root, recheck_seconds=0)
    app.dependency_overrides[get_settings] = lambda: settings_for(root)
    app.dependency_overrides[get_engine] = lambda: engine
    app.dependency_overrides[get_clock] = lambda: NOW
    yield lambda_api.handler
    app.dependency_overrides.clear()
    engine.close()


def test_docs_behind_a_named_stage_load_the_stages_openapi(handler: Any) -> None:
    response = handler(_event("/docs"), None)
    assert response["statusCode"] == 200
    assert "text/html" in response["headers"]["content-type"]
    # Relative URLs: the page at /dev/docs loads /dev/docs/... and /dev/openapi.json.
    assert 'src="docs/docs.js"' in response["body"]
    bundle = handler(_event("/docs/vendor/swagger-ui-bundle.js"), None)
    assert bundle["statusCode"] == 200

    spec = handler(_event("/openapi.json"), None)
    assert spec["statusCode"] == 200
    # The browser asked for gzip: Mangum returns the compressed body base64-encoded.
    assert spec["headers"]["content-encoding"] == "gzip"
    assert spec["isBase64Encoded"] is True
    body = json.loads(gzip.decompress(base64.b64decode(spec["body"])))
    assert body["servers"] == [{"url": "/dev"}]
    assert "/prices/latest" in body["paths"]


def test_prices_answer_through_the_stage_path(handler: Any) -> None:
    response = handler(_event("/prices/latest", "coin=BTC"), None)
    assert response["statusCode"] == 200
    assert response["headers"]["cache-control"] == "public, max-age=230"
    assert json.loads(response["body"])["prices"][0]["price_usd"] == 67187.3

    bad = handler(_event("/prices/history", "coin=NOPE"), None)
    assert bad["statusCode"] == 404
    assert "Unknown coin" in json.loads(bad["body"])["detail"]


def test_the_default_stage_has_no_prefix(handler: Any) -> None:
    response = handler(_event("/docs", stage="$default"), None)
    assert response["statusCode"] == 200
    assert 'src="docs/vendor/swagger-ui-bundle.js"' in response["body"]


def test_the_athena_lambda_imports_neither_duckdb_nor_pyarrow(tmp_path: Path) -> None:
    probe = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("duckdb", "pyarrow", "pandas"):
            raise ImportError(f"{name} must not be imported by the Athena API Lambda")
sys.meta_path.insert(0, Block())
from handlers.api import handler
from api.deps import get_engine
from nebulastream.edge import make_engine
from nebulastream.settings import get_settings
engine = make_engine(get_settings())
print(type(engine).__name__, sorted(m for m in ("duckdb", "pyarrow") if m in sys.modules))
"""
    env = {
        **os.environ,
        "NEBULA_ENGINE": "athena",
        "NEBULA_LAKE_URI": "s3://bucket/lake",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    result = subprocess.run(
        [sys.executable, "-c", probe],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).parent.parent.parent,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "AthenaEngine []"
