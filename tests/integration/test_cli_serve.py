"""`nebula serve` / `nebula run`: the API over real loopback, started and stopped cleanly."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from api.app import create_app
from api.deps import get_clock, get_engine
from nebulastream import cli
from nebulastream.query.duckdb import DuckDBEngine
from nebulastream.scheduler import PeriodicJob
from nebulastream.server import ApiServer
from nebulastream.settings import get_settings
from nebulastream.sources.base import SourceError
from tests.integration.api_lake import NOW, build_lake, settings_for
from tests.lake_fixtures import utc


def test_the_api_serves_over_loopback_and_stops_cleanly(tmp_path: Path) -> None:
    root = build_lake(tmp_path)
    app = create_app()
    engine = DuckDBEngine(root, recheck_seconds=0)
    app.dependency_overrides[get_settings] = lambda: settings_for(root)
    app.dependency_overrides[get_engine] = lambda: engine
    app.dependency_overrides[get_clock] = lambda: NOW
    server = ApiServer(app, "127.0.0.1", 0)
    server.start()
    try:
        with httpx.Client(base_url=server.url) as client:
            latest = client.get("/prices/latest", params={"coin": "BTC"})
            assert latest.json()["prices"][0]["price_usd"] == 67187.3
            assert client.get("/docs").status_code == 200
    finally:
        server.stop()
        engine.close()
    assert server.thread is not None
    assert not server.thread.is_alive()


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _ipv6_loopback(), reason="this machine has no IPv6 loopback")
def test_an_ipv6_host_is_announced_as_a_url_that_works(tmp_path: Path) -> None:
    app = create_app()
    app.dependency_overrides[get_settings] = lambda: settings_for(tmp_path)
    server = ApiServer(app, "::1", 0)
    server.start()
    try:
        assert re.fullmatch(r"http://\[::1\]:\d+", server.url)
        assert httpx.get(f"{server.url}/docs").status_code == 200
    finally:
        server.stop()


def test_run_serves_the_api_beside_the_fetch_loop_until_ctrl_c(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_lake(tmp_path)
    monkeypatch.setenv("NEBULA_LAKE_URI", str(tmp_path))
    get_settings.cache_clear()
    servers: list[ApiServer] = []
    answers: list[int] = []
    urls: list[str] = []

    class Recorded(ApiServer):
        def start(self, timeout: float = 10.0) -> None:
            super().start(timeout)
            servers.append(self)

    def loop(jobs: list[PeriodicJob], wait: Any, **_: Any) -> None:
        # The heal runs after the curation run of the same slot, every heal interval.
        assert [(job.name, job.seconds) for job in jobs] == [
            ("fetch", 300),
            ("transform", 3600),
            ("heal", 3600),
        ]
        jobs[1].action(utc("2026-11-28T04:00:00Z"))  # curates the lake's raw batches
        urls.append(servers[0].url)
        answers.append(httpx.get(f"{urls[0]}/prices/latest?coin=BTC").status_code)
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "ApiServer", Recorded)
    monkeypatch.setattr(cli, "run_jobs", loop)
    result = CliRunner().invoke(cli.app, ["run", "--port", "0"])
    get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert answers == [200]
    assert f"API on {urls[0]}" in result.output
    assert f"{urls[0]}/docs" in result.output
    assert "stopped." in result.output
    assert list((tmp_path / "reports").glob("curation-*.json"))
    assert "transform failed" not in result.output
    assert servers[0].thread is not None
    assert not servers[0].thread.is_alive()


@pytest.mark.parametrize("command", ["run", "serve"])
def test_a_busy_port_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    monkeypatch.setenv("NEBULA_LAKE_URI", str(tmp_path))
    blocker = ApiServer(create_app(), "127.0.0.1", 0)
    blocker.start()
    try:
        port = blocker.url.rsplit(":", 1)[1]
        result = CliRunner().invoke(cli.app, [command, "--port", port])
    finally:
        blocker.stop()
    assert result.exit_code == 2
    assert "pass --port" in result.output


def test_nebula_run_reports_a_failing_job_and_goes_on(
    capsys: pytest.CaptureFixture[str],
) -> None:
    broken = PeriodicJob("fetch", 300, lambda slot: 1 / 0)
    cli._report_failure(broken, ZeroDivisionError("division by zero"))
    cli._report_failure(broken, SourceError("CoinGecko answered 429 three times."))
    printed = capsys.readouterr().err
    assert "fetch failed unexpectedly: ZeroDivisionError: division by zero" in printed
    assert "fetch failed: CoinGecko answered 429 three times." in printed


def test_nebula_serve_on_any_free_port_answers_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    env = {**os.environ, "NEBULA_LAKE_URI": str(tmp_path), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "nebula"), "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # blocks until the API listens (or the process dies)
        found = re.search(r"API on (http://127\.0\.0\.1:(\d+))", line)
        assert found, line + process.stderr.read() if process.stderr else line
        assert found.group(2) != "0"  # the port actually bound, not the one asked for
        assert httpx.get(f"{found.group(1)}/health", timeout=10).status_code in (200, 503)
        process.send_signal(signal.SIGINT)
        out, errors = process.communicate(timeout=20)
    finally:
        process.kill()
    assert process.returncode == 0, errors
    assert "stopped." in out
    assert "Traceback" not in errors


@pytest.mark.parametrize("port", ["-1", "65536", "99999"])
def test_a_port_outside_tcp_range_is_refused_at_once(port: str) -> None:
    result = CliRunner().invoke(cli.app, ["serve", "--port", port])
    assert result.exit_code == 2
    assert "--port" in result.output
