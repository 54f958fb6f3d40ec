"""Response envelopes: the HTTP contract of ARCHITECTURE.md, with examples.

Their items (LatestPrice, HistoryPoint, CoinInfo, CoinHealth) are the query service's own
answers, defined once in nebulastream/query/service.py and serialised as they are.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from nebulastream.query.base import EngineName
from nebulastream.query.service import CoinHealth, CoinInfo, HistoryPoint, LatestPrice
from nebulastream.timeutil import UtcTime

__all__ = [
    "CoinHealth",
    "CoinInfo",
    "CoinsResponse",
    "ErrorResponse",
    "HealthResponse",
    "HistoryPoint",
    "HistoryResponse",
    "LatestPrice",
    "LatestResponse",
    "SourceInfo",
    "SourcesResponse",
]


class LatestResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "as_of": "2026-11-28T04:06:10.000Z",
                    "prices": [
                        {
                            "coin": "BTC",
                            "price_usd": 67187.3,
                            "market_cap_usd": 1.32e12,
                            "volume_24h_usd": 3.1e10,
                            "change_24h_pct": -1.23,
                            "ts": "2026-11-28T04:03:12.000Z",
                            "source": "coingecko",
                        }
                    ],
                }
            ]
        }
    )

    as_of: UtcTime = Field(description="When this answer was computed.")
    prices: list[LatestPrice] = Field(
        description="The newest stored observation of each coin asked for that has data."
    )


class HistoryResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "coin": "ETH",
                    "interval": "1h",
                    "start": "2026-11-27T04:10:00.000Z",
                    "end": "2026-11-28T04:10:00.000Z",
                    "points": [
                        {
                            "ts": "2026-11-27T05:00:00.000Z",
                            "open": 3521.4,
                            "high": 3530.0,
                            "low": 3518.2,
                            "close": 3525.9,
                            "samples": 12,
                            "market_cap_usd": 4.23e11,
                            "volume_24h_usd": 1.8e10,
                        }
                    ],
                }
            ]
        }
    )

    coin: str
    interval: Literal["5m", "15m", "1h", "4h", "1d"]
    start: UtcTime = Field(description="Inclusive.")
    end: UtcTime = Field(description="Exclusive.")
    points: list[HistoryPoint] = Field(description="Non-empty buckets, oldest first.")


class CoinsResponse(BaseModel):
    coins: list[CoinInfo]


class SourceInfo(BaseModel):
    source: str = Field(
        description="The registry name: a value of `source=`.", examples=["coinbase"]
    )
    title: str = Field(examples=["Coinbase Exchange"])
    kind: Literal["points", "candles"] = Field(
        description="points: observations at an instant; candles: 5-minute OHLC buckets."
    )
    terms: str = Field(description="Attribution and terms the source's data comes with.")


class SourcesResponse(BaseModel):
    sources: list[SourceInfo] = Field(
        description="Every registered source, in the order `source=best` prefers them."
    )


class HealthResponse(BaseModel):
    status: Literal["ok", "degraded", "stale"] = Field(
        description="'stale' when any configured coin has no observation within two intervals; "
        "else 'degraded' when a gap of the last 24 hours ended more than one heal interval "
        "(NEBULA_HEAL_INTERVAL_SECONDS) ago (docs/heal.md)."
    )
    engine: EngineName
    checked_at: UtcTime
    fetch_interval_seconds: int
    coins: list[CoinHealth]


class ErrorResponse(BaseModel):
    """Every 4xx and 5xx body: a message for the client and the id the server log files it under.

    Server-side causes (paths, SQL, cloud error text) go to the log only, under `request_id`.
    """

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "detail": "Unknown coin 'DOGEX'. Use ticker symbols, comma-separated, "
                    "from: BTC, ETH, SOL (e.g. coin=BTC,ETH).",
                    "request_id": "5f0c3a1e9b7d4c2a8e6f1d3b5a7c9e0f",
                }
            ]
        }
    )

    detail: str = Field(description="What went wrong and what to change.")
    request_id: str = Field(
        description="This request's id, also in the X-Request-Id header and the server log."
    )
