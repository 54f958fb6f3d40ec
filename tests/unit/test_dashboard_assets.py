"""The dashboard's page, assets and build step, without a browser."""

from __future__ import annotations

import importlib.util
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from types import ModuleType
from urllib.parse import urljoin, urlsplit

import pytest
from fastapi.testclient import TestClient

from api.app import create_app

ROOT = Path(__file__).resolve().parents[2]
PAGE = "http://testserver/dashboard"


def _build_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "build_dashboard", ROOT / "scripts/build_dashboard.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href") and value:
                self.urls.append(value)


@pytest.fixture
def client() -> TestClient:
    return TestClient(create_app())


def test_page_tells_the_script_the_configured_fetch_interval(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NEBULA_FETCH_INTERVAL_SECONDS", "120")
    from nebulastream.settings import get_settings

    get_settings.cache_clear()
    response = TestClient(create_app()).get("/dashboard")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert '<meta name="nebula-fetch-interval-seconds" content="120" />' in response.text
    assert response.headers["cache-control"] == "no-cache"


def test_every_url_in_the_page_is_relative_and_served(client: TestClient) -> None:
    links = _Links()
    links.feed(client.get("/dashboard").text)
    urls = [u for u in links.urls if not u.startswith("data:")]

    assert {"dashboard/dashboard.js", "dashboard/vendor/uPlot.iife.min.js"} <= set(urls)
    for url in urls:
        # No host and no leading slash: the page works at / and under an API Gateway stage.
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc and not url.startswith("/"), url
        response = client.get(urljoin(PAGE, url))
        assert response.status_code == 200, f"{url}: {response.status_code}"


def test_the_script_reaches_the_api_only_through_paths_relative_to_the_page() -> None:
    script = (ROOT / "api/static/dashboard.js").read_text()

    assert "://" not in script
    calls = re.findall(r'\bapi\(\s*"([^"]+)"', script)
    assert set(calls) == {
        "coins", "sources", "prices/latest", "prices/history", "alerts", "alerts/history"
    }  # fmt: skip


def test_a_trailing_slash_redirects_back_to_the_page_under_any_stage(client: TestClient) -> None:
    response = client.get("/dashboard/", follow_redirects=False)

    assert response.status_code == 308
    location = response.headers["location"]
    assert urljoin("https://api.example/dev/dashboard/", location) == (
        "https://api.example/dev/dashboard"
    )
    assert (
        urljoin("http://127.0.0.1:8000/dashboard/", location) == "http://127.0.0.1:8000/dashboard"
    )


def test_the_dashboard_stays_out_of_the_api_schema(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]

    assert not [p for p in paths if p.startswith("/dashboard")]


def test_vendored_chart_library_is_the_version_package_json_pins() -> None:
    pinned = json.loads((ROOT / "package.json").read_text())["dependencies"]["uplot"]
    locked = json.loads((ROOT / "package-lock.json").read_text())["packages"]["node_modules/uplot"]
    vendored = ROOT / "api/static/vendor/uPlot.iife.min.js"
    assert vendored.exists(), "run `make install`: it copies the chart library into api/static"

    assert re.fullmatch(r"\d+\.\d+\.\d+", pinned), "pin exactly, no ranges"
    assert locked["version"] == pinned
    assert f"(v{pinned})" in vendored.read_text()[:200]


def test_vendored_swagger_ui_is_the_version_package_json_pins() -> None:
    pinned = json.loads((ROOT / "package.json").read_text())["dependencies"]["swagger-ui-dist"]
    lock = json.loads((ROOT / "package-lock.json").read_text())["packages"]
    vendored = ROOT / "api/static/docs/vendor/swagger-ui-bundle.js"
    assert vendored.exists(), "run `make install`: it copies Swagger UI into api/static/docs"

    assert re.fullmatch(r"\d+\.\d+\.\d+", pinned), "pin exactly, no ranges"
    assert lock["node_modules/swagger-ui-dist"]["version"] == pinned
    assert f'"{pinned}"' in vendored.read_text()


def test_docs_page_loads_only_relative_files_that_the_app_serves() -> None:
    client = TestClient(create_app())
    page = client.get("/docs")
    links = _Links()
    links.feed(page.text)
    urls = [u for u in links.urls if not u.startswith("data:")]
    assert set(urls) == {
        "docs/vendor/swagger-ui.css",
        "docs/vendor/swagger-ui-bundle.js",
        "docs/docs.js",
    }
    for url in urls:
        assert client.get(urljoin("http://testserver/docs", url)).status_code == 200
    assert "<script>" not in page.text and "style=" not in page.text


def _fake_checkout(root: Path, pinned: str, installed: str) -> None:
    (root / "package.json").write_text(json.dumps({"dependencies": {"uplot": pinned}}))
    package = root / "node_modules/uplot"
    (package / "dist").mkdir(parents=True)
    (package / "package.json").write_text(json.dumps({"version": installed}))
    (package / "dist/uPlot.iife.min.js").write_text(f"/*! uPlot (v{installed}) */")
    (package / "dist/uPlot.min.css").write_text(".uplot{}")


def test_build_copies_the_pinned_library_into_the_static_files(tmp_path: Path) -> None:
    build = _build_module()
    _fake_checkout(tmp_path, "1.6.32", "1.6.32")

    copied = build.build(tmp_path, tmp_path / "vendor")

    assert sorted(p.name for p in copied) == ["uPlot.iife.min.js", "uPlot.min.css"]
    assert (tmp_path / "vendor/uPlot.iife.min.js").read_text() == "/*! uPlot (v1.6.32) */"


def test_build_refuses_a_library_other_than_the_pinned_one(tmp_path: Path) -> None:
    build = _build_module()
    _fake_checkout(tmp_path, "1.6.32", "1.6.31")

    with pytest.raises(
        build.BuildError, match=r"holds uplot 1\.6\.31 .* pins 1\.6\.32: run `npm ci`"
    ):
        build.build(tmp_path, tmp_path / "vendor")
    assert not (tmp_path / "vendor").exists()


def test_build_says_how_to_install_a_missing_library(tmp_path: Path) -> None:
    build = _build_module()
    (tmp_path / "package.json").write_text(json.dumps({"dependencies": {"uplot": "1.6.32"}}))

    with pytest.raises(build.BuildError, match=r"not installed: run `npm ci`"):
        build.build(tmp_path, tmp_path / "vendor")
