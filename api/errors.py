"""Every error answer is `ErrorResponse`: a message for the client and the request id.

Bad input is a 400 saying what to change; an engine failure is a 503 whose cause (paths, SQL,
Athena or botocore text with account ids and ARNs) goes to the log under the request id only.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from api.guard import error_body
from api.models import ErrorResponse
from nebulastream.query import EngineError
from nebulastream.query.service import QueryInputError, QueryRuleError, UnknownCoinQueryError

log = logging.getLogger("api")

BAD_INPUT: dict[int | str, dict[str, Any]] = {
    400: {
        "model": ErrorResponse,
        "description": "Malformed input: not in the form the parameters state; `detail` says "
        "what to change.",
    }
}
# Input in the documented form that still cannot be answered: the schema cannot state these.
NOT_FOUND_OR_RULE: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "A well-formed coin symbol that is not known."},
    422: {
        "model": ErrorResponse,
        "description": "Well-formed input that breaks a rule: start must be before end, at "
        "most 10,000 buckets, a date on the calendar between 2009-01-03 and 9998-12-31. "
        "`detail` says what to change.",
    },
}
# The parameters' patterns, for a readable message when one does not match.
_PATTERN_HELP = {
    "coin": "use ticker symbols of ASCII letters and digits, comma-separated (e.g. coin=BTC,ETH)",
    "start": "use RFC 3339 such as 2026-11-01T00:00:00Z or Unix seconds such as 1793491200",
    "end": "use RFC 3339 such as 2026-11-01T00:00:00Z or Unix seconds such as 1793491200",
}
UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {
        "model": ErrorResponse,
        "description": "The query engine could not answer; retry later. The server log has the "
        "cause under `request_id`.",
    }
}


def request_id(request: Request) -> str:
    rid: str = getattr(request.state, "request_id", "-")
    return rid


def error(
    request: Request, status: int, detail: str, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        error_body(detail, request_id(request)),
        status_code=status,
        media_type="application/json",
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


def _describe(error: dict[str, Any]) -> str:
    name = str(error["loc"][-1]) if error.get("loc") else "request"
    if error.get("type") == "missing":
        return (
            f"{name} is required (e.g. {name}=ETH)." if name == "coin" else f"{name} is required."
        )
    value = error.get("input")
    shown = repr(value)[:40] if isinstance(value, str) else "the value given"
    message = str(error.get("msg", "is not valid")).removeprefix("Value error, ")
    if (
        error.get("type") in ("string_pattern_mismatch", "string_too_long")
        and name in _PATTERN_HELP
    ):
        message = _PATTERN_HELP[name]
    return f"{name}={shown}: {message}."


def install(app: FastAPI) -> None:
    @app.exception_handler(QueryInputError)
    async def bad_input(request: Request, exc: QueryInputError) -> Response:
        status = 404 if isinstance(exc, UnknownCoinQueryError) else 400
        return error(request, 422 if isinstance(exc, QueryRuleError) else status, str(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        return error(request, 400, " ".join(_describe(e) for e in exc.errors()))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        # Starlette's own: 404 for an unknown path, 405 for a method a route does not take.
        return error(request, exc.status_code, str(exc.detail), dict(exc.headers or {}))

    @app.exception_handler(EngineError)
    async def unavailable(request: Request, exc: EngineError) -> Response:
        rid = request_id(request)
        log.warning("request %s: engine error: %s", rid, exc, extra={"request_id": rid})
        detail = (
            "The query engine could not answer; retry in a moment. If it persists, the server "
            f"log has the cause under request id {rid}."
        )
        return error(request, 503, detail, {"Retry-After": "30"})


def _error_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}},
    }


def drop_validation_schemas(schema: dict[str, Any]) -> dict[str, Any]:
    """FastAPI documents its own 422 the app never sends (validation errors are 400 here); the query
    caps (api.guard) apply to every route, so each documents their 400 and 414."""
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            responses = operation.setdefault("responses", {})
            if "HTTPValidationError" in str(responses.get("422")):
                responses.pop("422")
            responses.setdefault("400", _error_response(BAD_INPUT[400]["description"]))
            responses.setdefault(
                "414", _error_response("The query string is too long; `detail` says the cap.")
            )
    components = schema.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    return schema
