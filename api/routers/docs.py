"""/docs: Swagger UI served by the app itself (no CDN), under a strict Content-Security-Policy."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse

from api.routers.dashboard import install_page

DOCS = Path(__file__).resolve().parent.parent / "static" / "docs"
# Everything from this origin; no inline script or style; nothing may frame the page.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)

router = APIRouter(include_in_schema=False)


@cache
def _page() -> str:
    return (DOCS / "index.html").read_text()


@router.get("/docs", response_class=HTMLResponse)
def docs() -> HTMLResponse:
    return HTMLResponse(
        _page(), headers={"Content-Security-Policy": CSP, "Cache-Control": "no-cache"}
    )


def install(app: FastAPI) -> None:
    """The page at /docs and Swagger UI's files under /docs/ (after the page route)."""
    install_page(app, router, "docs", DOCS)
