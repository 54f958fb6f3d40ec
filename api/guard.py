"""The first thing a request meets: its request id, a bounded query string, a last-resort 500.

Every answer carries `X-Request-Id`; error bodies carry the same id and the log files the
cause under it. A query string is parsed by Starlette on first use (linear, but unbounded),
so a 55 KB URL of 10,000 empty parameters would cost every later step its share of CPU on the
event loop: the API takes at most four parameters, so these caps are generous and a refusal
costs one length test and one byte count.
"""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.models import ErrorResponse

# Longest useful query: every known coin listed plus two RFC 3339 bounds is well under 1 KB.
MAX_QUERY_BYTES = 2048
MAX_QUERY_PARAMS = 16
# API Gateway's request ids look like "Jx2kqg3aIAMEb8w=": anything else is not taken as given.
_GATEWAY_ID = re.compile(r"[A-Za-z0-9=_-]{1,64}")

log = logging.getLogger("api")


def query_problem(query_string: bytes) -> tuple[int, str] | None:
    """(status, message) when the query string is over a cap, else None. One pass, no parsing."""
    if len(query_string) > MAX_QUERY_BYTES:
        return 414, (
            f"The query string is {len(query_string):,} bytes, more than {MAX_QUERY_BYTES:,}: "
            "give each parameter once (several coins: coin=BTC,ETH)."
        )
    # Starlette splits on '&' only; counting separators bounds the pairs it would build.
    if query_string and query_string.count(b"&") + 1 > MAX_QUERY_PARAMS:
        return 400, (
            f"The query has more than {MAX_QUERY_PARAMS} parameters: this API takes at most "
            "coin, start, end, interval, source and format, each once."
        )
    return None


def new_request_id(scope: Scope) -> str:
    """API Gateway's id when the request came through it (its access log uses the same)."""
    event: dict[str, Any] = scope.get("aws.event") or {}
    given = (event.get("requestContext") or {}).get("requestId")
    if isinstance(given, str) and _GATEWAY_ID.fullmatch(given):
        return given
    return uuid.uuid4().hex


def error_body(detail: str, request_id: str) -> bytes:
    return ErrorResponse(detail=detail, request_id=request_id).model_dump_json().encode()


class RequestGuard:
    """ASGI middleware, outermost of the app's own: see the module docstring."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = new_request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        header = (b"x-request-id", request_id.encode())
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        if problem := query_problem(scope.get("query_string", b"")):
            status, detail = problem
            await _send_error(send_with_id, status, error_body(detail, request_id))
            return
        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            # A bug, not bad input: the traceback goes to the log, the client gets the id.
            log.exception("request %s failed", request_id, extra={"request_id": request_id})
            if started:
                raise
            detail = (
                "The server failed to answer. The server log has the cause under request id "
                f"{request_id}."
            )
            await _send_error(send_with_id, 500, error_body(detail, request_id))


async def _send_error(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
