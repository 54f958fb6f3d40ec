"""The first thing a request meets: a bounded query string, refused before anything parses it.

A query string is parsed by Starlette on first use (linear, but unbounded), so a 55 KB URL of
10,000 empty parameters would cost every later step its share of CPU on the event loop. The
API takes at most four parameters, so these caps are generous and a refusal costs one scan.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Receive, Scope, Send

# Longest useful query: every known coin listed plus two RFC 3339 bounds is well under 1 KB.
MAX_QUERY_BYTES = 2048
MAX_QUERY_PARAMS = 16


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
            "coin, start, end and interval, each once."
        )
    return None


class QueryGuard:
    """ASGI middleware: answers an over-long or over-full query string with the documented error."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (problem := query_problem(scope.get("query_string", b""))):
            status, message = problem
            body = json.dumps({"detail": message}).encode()
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
            return
        await self.app(scope, receive, send)
