"""/health: the engine answers, and how old each coin's newest observation is."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Response

from api.deps import EngineDep, NowDep, SettingsDep
from api.errors import UNAVAILABLE
from api.headers import answer
from api.models import HealthResponse
from nebulastream.query import service

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    response_model=HealthResponse,
    responses=UNAVAILABLE,
    summary="Engine reachable; newest observation per coin; stale after two fetch intervals",
)
def health(settings: SettingsDep, engine: EngineDep, now: NowDep) -> Response:
    engine.ping()
    prices = service.latest(engine, settings.coins, now, settings.raw_lookback_days)
    stale_after = timedelta(seconds=2 * settings.fetch_interval_seconds)
    coins = service.freshness(prices, settings.coins, now, stale_after)
    body = HealthResponse.model_construct(
        status="stale" if any(c.stale for c in coins) else "ok",
        engine=engine.name,
        checked_at=now,
        fetch_interval_seconds=settings.fetch_interval_seconds,
        coins=coins,
    )
    return answer(body, "no-store")
