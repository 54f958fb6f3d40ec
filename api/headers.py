"""Cache-Control aligned to the fetch interval: an answer is good until the next slot."""

from __future__ import annotations

import math
from datetime import datetime

from fastapi import Response

from nebulastream.query.service import next_slot


def cache_until_next_slot(response: Response, now: datetime, fetch_interval_seconds: int) -> None:
    """New data can only land at the next slot boundary, so caches may keep this until then."""
    seconds = math.ceil((next_slot(now, fetch_interval_seconds) - now).total_seconds())
    response.headers["Cache-Control"] = f"public, max-age={max(1, seconds)}"
