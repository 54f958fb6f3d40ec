"""/coins: what the lake holds per coin."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.deps import LakeDep
from api.errors import UNAVAILABLE
from api.models import CoinsResponse
from nebulastream.query import service

# Every route here may answer 503 when the engine cannot (api/errors.py).
router = APIRouter(tags=["coins"], responses=UNAVAILABLE)


@router.get(
    "/coins",
    response_model=CoinsResponse,
    summary="Each coin with its first and last timestamp, row count and completeness",
)
def coins(lake: LakeDep) -> Response:
    """The configured coins first (even before their first fetch), then any other in the lake;
    completeness and gaps of the 5-minute grid as docs/heal.md defines them."""
    items = service.with_completeness(lake.coins(), lake.coverage(), lake.now)
    return lake.answer(CoinsResponse.model_construct(coins=items))
