"""/health: the engine answers, and how old each coin's newest observation is."""

from __future__ import annotations

from dataclasses import replace
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
    summary="Engine reachable; newest observation per coin; stale after two fetch intervals; "
    "degraded when a gap of the last 24 h outlived a heal",
)
def health(lake: LakeDep) -> Response:
    lake.engine.ping()
    configured, interval = lake.settings.coins, lake.settings.fetch_interval_seconds
    stale_after = timedelta(seconds=2 * interval)
    coins = service.freshness(lake.latest(configured), configured, lake.now, stale_after)
    # Gaps of the last 24 hours (docs/heal.md): two days read cover them and their edges.
    covered = lake.coverage(since=lake.now.date() - timedelta(days=2))
    heal_after = timedelta(seconds=lake.settings.heal_interval_seconds)
    gaps, degraded = service.recent_gaps(covered, configured, lake.now, heal_after)
    coins = [replace(c, gaps_24h=gaps.get(c.coin, 0)) for c in coins]
    stale = any(c.stale for c in coins)
    body = HealthResponse.model_construct(
        status="stale" if stale else "degraded" if degraded else "ok",
        engine=lake.engine.name,
        checked_at=lake.now,
        fetch_interval_seconds=interval,
        coins=coins,
    )
    return lake.answer(body, "no-store")
