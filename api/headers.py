"""Answers: JSON straight from the response model, cacheable until the next fetch slot."""

from __future__ import annotations

import math
from datetime import datetime

from fastapi import Response
from pydantic import BaseModel

from nebulastream.timeutil import next_slot


def until_next_slot(now: datetime, fetch_interval_seconds: int) -> str:
    """New data can only land at the next slot boundary, so caches may keep answers until then."""
    seconds = math.ceil((next_slot(now, fetch_interval_seconds) - now).total_seconds())
    return f"public, max-age={max(1, seconds)}"


def answer(model: BaseModel, cache_control: str) -> Response:
    """The model serialised once by pydantic-core; the route's `response_model` documents it.

    Returning a Response skips FastAPI's second validation pass of what we just built from
    typed query results, which is most of the cost of a year of buckets.
    """
    return Response(
        model.model_dump_json(),
        media_type="application/json",
        headers={"Cache-Control": cache_control},
    )
