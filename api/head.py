"""HEAD wherever GET works: routes, /dashboard, static files, /docs (HTTP wants it; monitors
and link checkers use it). FastAPI routes take only the methods they list, so HEAD is answered
as GET with the body dropped; the headers, Content-Length included, are GET's."""

from __future__ import annotations

import copy
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HeadAsGet:
    """ASGI middleware: run a HEAD request as GET and send only the response's headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, headers_only)


def document_head(schema: dict[str, Any]) -> dict[str, Any]:
    """A `head` operation beside each `get`: the same parameters and statuses, no body."""
    for path in schema.get("paths", {}).values():
        get = path.get("get")
        if get is None or "head" in path:
            continue
        head = copy.deepcopy(get)
        head["operationId"] = f"{get.get('operationId', 'get')}_head"
        head["summary"] = f"{get.get('summary', '')} (headers only)".strip()
        head["description"] = "As GET, without the body: the same status and headers."
        head["responses"] = {
            status: {"description": answer.get("description", "")}
            for status, answer in get.get("responses", {}).items()
        }
        path["head"] = head
    return schema
