"""/health: the engine answers, and how old each coin's newest observation is."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Response

from api.deps import LakeDep
from api.errors import UNAVAILABLE
from api.models import HealthResponse
from nebulastream.query import service

# Every route here may answer 503 when the engine cannot (api/errors.py).
router = APIRouter(tags=["health"], responses=UNAVAILABLE)


@router.get(
    "/health",
    response_model=HealthResponse,
    summary="Engine reachable; newest observation per coin; stale after two fetch intervals",
)
def health(lake: LakeDep) -> Response:
    lake.engine.ping()
    configured, interval = lake.settings.coins, lake.settings.fetch_interval_seconds
    stale_after = timedelta(seconds=2 * interval)
    coins = service.freshness(lake.latest(configured), configured, lake.now, stale_after)
    body = HealthResponse.model_construct(
        status="stale" if any(c.stale for c in coins) else "ok",
        engine=lake.engine.name,
        checked_at=lake.now,
        fetch_interval_seconds=interval,
        coins=coins,
    )
    return lake.answer(body, "no-store")
