"""/coins: what the lake holds per coin."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.deps import EngineDep, NowDep, SettingsDep
from api.errors import UNAVAILABLE
from api.headers import answer, until_next_slot
from api.models import CoinsResponse
from nebulastream.query import service

router = APIRouter(tags=["coins"])


@router.get(
    "/coins",
    response_model=CoinsResponse,
    responses=UNAVAILABLE,
    summary="Each coin with its first and last timestamp and row count",
)
def coins(settings: SettingsDep, engine: EngineDep, now: NowDep) -> Response:
    """The configured coins first (even before their first fetch), then any other in the lake."""
    summaries = service.coin_summaries(engine, settings.coins, now, settings.raw_lookback_days)
    body = CoinsResponse.model_construct(coins=summaries)
    return answer(body, until_next_slot(now, settings.fetch_interval_seconds))
