"""/coins: what the lake holds per coin."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.deps import LakeDep
from api.errors import UNAVAILABLE
from api.models import CoinsResponse

# Every route here may answer 503 when the engine cannot (api/errors.py).
router = APIRouter(tags=["coins"], responses=UNAVAILABLE)


@router.get(
    "/coins",
    response_model=CoinsResponse,
    summary="Each coin with its first and last timestamp and row count",
)
def coins(lake: LakeDep) -> Response:
    """The configured coins first (even before their first fetch), then any other in the lake."""
    return lake.answer(CoinsResponse.model_construct(coins=lake.coins()))
