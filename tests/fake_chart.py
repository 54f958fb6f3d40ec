"""A CoinGecko-compatible `market_chart/range` for tests: 5-minute points for a range that ends
now and spans at most a day (as CoinGecko serves them), hourly points otherwise.

`Chart.answer(path, query)` is a pure function of the request and the clock; serve it on
127.0.0.1 with tests.fake_exchange.serve (its base URL is root + "/api/v3"). Points sit
`offset` seconds after the 5-minute grid, like CoinGecko's, and their prices are deterministic.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

STEP = 300
PRICES = {"bitcoin": 95_000.0, "ethereum": 3_600.0, "solana": 240.0}
_json = {"Content-Type": "application/json"}


def chart_price(base: float, t: int) -> float:
    """The deterministic price of a point at Unix second `t`."""
    return round(base * (1 + ((t // STEP) * 4001 % 1000 - 500) / 100_000), 2)


@dataclass
class Chart:
    prices: dict[str, float] = field(default_factory=lambda: dict(PRICES))
    offset: int = 17
    clock: Callable[[], float] = time.time
    requests: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def points(self, coin_id: str, start: int, end: int) -> list[tuple[int, float]]:
        """(Unix second, price) of every point served for [start, end]."""
        fine = end >= self.clock() - 120 and end - start <= 86400
        step = STEP if fine else 3600
        first = -(-(start - self.offset) // step) * step + self.offset
        base = self.prices[coin_id]
        return [(t, chart_price(base, t)) for t in range(first, end + 1, step)]

    def answer(self, path: str, query: dict[str, str]) -> tuple[int, dict[str, str], str]:
        with self.lock:
            self.requests.append(path + "?" + "&".join(f"{k}={v}" for k, v in query.items()))
        parts = [p for p in path.split("/") if p]
        if (
            len(parts) != 6
            or parts[:3] != ["api", "v3", "coins"]
            or parts[4:]
            != [
                "market_chart",
                "range",
            ]
        ):
            return 404, _json, json.dumps({"error": "Not Found"})
        if parts[3] not in self.prices:
            return 404, _json, json.dumps({"error": "coin not found"})
        served = self.points(parts[3], int(query["from"]), int(query["to"]))
        body = {
            "prices": [[t * 1000, p] for t, p in served],
            "market_caps": [[t * 1000, p * 19_000_000] for t, p in served],
            "total_volumes": [[t * 1000, 3.0e10] for t, _ in served],
        }
        return 200, _json, json.dumps(body)
