"""schemathesis over the OpenAPI document: no input gives a 5xx or an undocumented status, and
input in the documented form is never refused as malformed.

Positive-data acceptance is on: a request built from the schema may be answered 2xx, 404 (a
well-formed symbol that is not a known coin) or 422 (well-formed, but breaking a rule a schema
cannot state: start < end, the bucket limit, the calendar). A 400 for such a request means
the OpenAPI is vaguer than the API.
"""

from __future__ import annotations

import atexit
import gc
import shutil
import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app
from api.deps import get_clock, get_engine
from nebulastream.query.duckdb import DuckDBEngine
from nebulastream.settings import get_settings
from tests.integration.api_lake import NOW, build_lake, settings_for


def _app() -> object:
    # schemathesis reads the schema at collection time, so the lake is built then too.
    root = build_lake(Path(tempfile.mkdtemp(prefix="nebula-fuzz-")))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    engine = DuckDBEngine(root, recheck_seconds=0)
    app = create_app()
    app.dependency_overrides[get_settings] = lambda: settings_for(root)
    app.dependency_overrides[get_engine] = lambda: engine
    app.dependency_overrides[get_clock] = lambda: NOW

    def release() -> None:
        # Drop DuckDB objects before interpreter teardown, which would report them as leaks.
        app.dependency_overrides.clear()
        engine.close()
        gc.collect()

    atexit.register(release)
    return app


CONFIG = SchemathesisConfig.from_dict(
    {"checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "404", "422"]}}}
)
schema = schemathesis.openapi.from_asgi("/openapi.json", _app(), config=CONFIG)


@schema.parametrize()
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_no_input_gives_a_server_error_or_an_undocumented_answer(case: schemathesis.Case) -> None:
    case.call_and_validate(
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
            negative_data_rejection,
            positive_data_acceptance,
        ]
    )
