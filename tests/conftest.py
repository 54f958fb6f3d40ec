"""Shared test helpers: recorded payloads and an isolated environment."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

# Property tests: a modest number of generated cases in every `make test`; more on demand
# (HYPOTHESIS_PROFILE=thorough .venv/bin/python -m pytest tests/...).
settings.register_profile("default", max_examples=60, deadline=None)
settings.register_profile("thorough", max_examples=1000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

FIXTURES = Path(__file__).parent / "fixtures"


def fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text()


def fixture_json(name: str) -> Any:
    return json.loads(fixture_text(name))


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's NEBULA_* settings, real AWS credentials or the real lake."""
    for name in list(os.environ):
        if name.startswith("NEBULA_") or name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("NEBULA_LAKE_URI", str(tmp_path / "lake"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    from nebulastream.settings import get_settings

    get_settings.cache_clear()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Show what tests recorded with record_property("report", ...): artifacts, measurements."""
    lines = dict.fromkeys(  # a test's properties ride on its call and teardown reports
        str(value)
        for reports in terminalreporter.stats.values()
        for report in reports
        for name, value in getattr(report, "user_properties", ())
        if name == "report"
    )
    if lines:
        terminalreporter.section("reports")
        for line in lines:
            terminalreporter.line(line)
