"""API Lambda: API Gateway HTTP API (payload 2.0) -> the FastAPI app, via Mangum."""

from __future__ import annotations

from mangum import Mangum

from api.app import app
from api.stage import StageRootPath

# Settings and the engine are built once per container, on the first request (api.deps).
handler = Mangum(StageRootPath(app), lifespan="off")
