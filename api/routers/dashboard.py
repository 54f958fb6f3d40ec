"""/dashboard: the price dashboard page and its static files (api/static); it calls the API."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from api.deps import SettingsDep

STATIC = Path(__file__).resolve().parent.parent / "static"
# The page learns the fetch interval (its refresh period) from this tag, filled in per request.
INTERVAL_TAG = re.compile(r'(<meta name="nebula-fetch-interval-seconds" content=")\d+(")')

router = APIRouter(include_in_schema=False)


@cache
def _page() -> str:
    html = (STATIC / "index.html").read_text()
    if len(INTERVAL_TAG.findall(html)) != 1:
        raise RuntimeError(f"{STATIC / 'index.html'} needs one {INTERVAL_TAG.pattern} tag")
    return html


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard(settings: SettingsDep) -> HTMLResponse:
    html = INTERVAL_TAG.sub(rf"\g<1>{settings.fetch_interval_seconds}\g<2>", _page())
    # no-cache: the page embeds a setting, so browsers revalidate it; its assets are static.
    return HTMLResponse(html, headers={"Cache-Control": "no-cache"})


def install(app: FastAPI) -> None:
    """Serve the page at /dashboard and its files under /dashboard/ (after the page route)."""
    install_page(app, router, "dashboard", STATIC)


def install_page(app: FastAPI, router: APIRouter, name: str, files: Path) -> None:
    """A page at /<name> (the router's route), its files under /<name>/, and /<name>/
    redirected to the page, which resolves its assets and API calls relative to ".../<name>"."""

    @router.get(f"/{name}/")
    def slash() -> RedirectResponse:
        # A relative Location keeps an API Gateway stage prefix (/dev/docs/ -> /dev/docs).
        return RedirectResponse(f"../{name}", status_code=308)

    app.include_router(router)
    app.mount(f"/{name}", StaticFiles(directory=files), name=name)
