"""Serving behind API Gateway HTTP API: a named stage prefixes every path (`/dev/docs`).

Mangum passes the path as received and an empty `root_path`. Setting `root_path` to the
stage lets the routes match (Starlette strips it) and makes /docs load `/dev/openapi.json`
instead of a missing `/openapi.json`. The `$default` stage has no prefix.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send


class StageRootPath:
    """ASGI wrapper: `root_path` = `/<stage>` for requests that came through a named stage."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        event = scope.get("aws.event") or {}
        stage = (event.get("requestContext") or {}).get("stage")
        if scope["type"] == "http" and stage and stage != "$default":
            prefix = f"/{stage}"
            path: str = scope["path"]
            if path == prefix or path.startswith(prefix + "/"):
                scope = {**scope, "root_path": scope.get("root_path", "") + prefix}
        await self.app(scope, receive, send)
