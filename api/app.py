"""The FastAPI app: routers, error handling, CORS for GET, gzip for large answers, /docs."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import RedirectResponse

from api import errors
from api.guard import RequestGuard
from api.head import HeadAsGet, document_head
from api.routers import alerts, coins, dashboard, docs, health, prices, sources
from nebulastream import __version__

DESCRIPTION = """\
Crypto prices from your own lake: the newest price per coin and OHLC history in
epoch-aligned buckets. Answers include batches fetched a moment ago, before curation.

Times are RFC 3339 in UTC with a `Z` (input also takes Unix seconds); ranges are half-open
`[start, end)`. Bad input is a 400 whose `detail` says what to change.
"""


def create_app() -> FastAPI:
    app = FastAPI(
        title="NebulaStream API",
        version=__version__,
        description=DESCRIPTION,
        # /docs is api.routers.docs (Swagger UI bundled, no CDN). No ReDoc: its standalone
        # build needs inline styles, which the strict CSP refuses.
        docs_url=None,
        redoc_url=None,
        openapi_tags=[
            {"name": "prices", "description": "Latest prices and history."},
            {"name": "coins", "description": "What the lake holds."},
            {"name": "sources", "description": "Where prices come from, and their terms."},
            {"name": "health", "description": "Liveness and data freshness."},
            {"name": "alerts", "description": "Price alert rules, their state and firings."},
        ],
    )
    # gzip pays off on long histories (a year of daily buckets: 64 KB of JSON, 9 KB
    # gzipped); level 5 compresses nearly as well as Starlette's default 9, in less time.
    app.add_middleware(GZipMiddleware, minimum_size=1024, compresslevel=5)
    app.add_middleware(
        CORSMiddleware, allow_origins=["*"], allow_methods=["GET", "HEAD"], allow_headers=["*"]
    )
    app.add_middleware(HeadAsGet)
    # Added last, so it runs first: the request id, and an over-long query refused unparsed.
    app.add_middleware(RequestGuard)
    errors.install(app)
    app.include_router(prices.router)
    app.include_router(coins.router)
    app.include_router(sources.router)
    app.include_router(health.router)
    app.include_router(alerts.router)
    dashboard.install(app)
    docs.install(app)

    @app.get("/", include_in_schema=False)
    def root(request: Request) -> RedirectResponse:
        return RedirectResponse(request.scope.get("root_path", "").rstrip("/") + "/docs")

    default_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_head(errors.drop_validation_schemas(default_openapi()))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


app = create_app()
