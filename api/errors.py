"""Bad input is a 400 saying what to change; an engine failure is a 503. Both are documented."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from api.models import ErrorResponse
from nebulastream.query import EngineError
from nebulastream.query.service import QueryInputError

BAD_INPUT: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "Bad input; `detail` says what to change."}
}
UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {
        "model": ErrorResponse,
        "description": "The query engine could not answer; `detail` says why. Retry later.",
    }
}


def _error(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def _describe(error: dict[str, Any]) -> str:
    name = str(error["loc"][-1]) if error.get("loc") else "request"
    if error.get("type") == "missing":
        return (
            f"{name} is required (e.g. {name}=ETH)." if name == "coin" else f"{name} is required."
        )
    value = error.get("input")
    shown = repr(value)[:40] if isinstance(value, str) else "the value given"
    message = str(error.get("msg", "is not valid")).removeprefix("Value error, ")
    return f"{name}={shown}: {message}."


def install(app: FastAPI) -> None:
    @app.exception_handler(QueryInputError)
    async def bad_input(request: Request, error: QueryInputError) -> JSONResponse:
        return _error(400, str(error))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        return _error(400, " ".join(_describe(e) for e in error.errors()))

    @app.exception_handler(EngineError)
    async def unavailable(request: Request, error: EngineError) -> JSONResponse:
        return _error(503, str(error), {"Retry-After": "30", "Cache-Control": "no-store"})


def _error_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}},
    }


def drop_validation_schemas(schema: dict[str, Any]) -> dict[str, Any]:
    """FastAPI documents a 422 the app never sends (validation errors are 400 here); the query
    caps (api.guard) apply to every route, so each documents their 400 and 414."""
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            responses.setdefault("400", _error_response(BAD_INPUT[400]["description"]))
            responses.setdefault(
                "414", _error_response("The query string is too long; `detail` says the cap.")
            )
    components = schema.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    return schema
