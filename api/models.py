"""Response models: the HTTP contract of ARCHITECTURE.md, field for field, with examples."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema

from nebulastream.timeutil import iso_z

# Every instant leaves the API as RFC 3339 in UTC with a 'Z' (and milliseconds), like the lake.
UtcTime = Annotated[
    datetime,
    PlainSerializer(iso_z, return_type=str),
    WithJsonSchema(
        {"type": "string", "format": "date-time", "examples": ["2026-11-28T04:05:00.000Z"]}
    ),
]


class LatestPrice(BaseModel):
    coin: str = Field(examples=["BTC"])
    price_usd: float = Field(examples=[67187.3])
    market_cap_usd: float | None = Field(examples=[1.32e12])
    volume_24h_usd: float | None = Field(examples=[3.1e10])
    change_24h_pct: float | None = Field(examples=[-1.23])
    ts: UtcTime = Field(description="When the source observed this price.")
    source: str = Field(examples=["coingecko"])


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


class HistoryPoint(BaseModel):
    ts: UtcTime = Field(description="Bucket start: a multiple of the interval since the epoch.")
    open: float = Field(description="First price in the bucket.", examples=[3521.4])
    high: float = Field(examples=[3530.0])
    low: float = Field(examples=[3518.2])
    close: float = Field(description="Last price in the bucket.", examples=[3525.9])
    samples: int = Field(description="Observations in the bucket.", examples=[12])
    market_cap_usd: float | None = Field(description="Of the last observation.")
    volume_24h_usd: float | None = Field(description="Of the last observation.")


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


class CoinInfo(BaseModel):
    coin: str = Field(examples=["BTC"])
    first_ts: UtcTime | None = Field(description="Oldest observation; null without data.")
    last_ts: UtcTime | None = Field(description="Newest observation; null without data.")
    rows: int = Field(description="Stored observations (deduplicated).", examples=[105120])


class CoinsResponse(BaseModel):
    coins: list[CoinInfo]


class CoinHealth(BaseModel):
    coin: str
    newest_ts: UtcTime | None
    age_seconds: float | None
    stale: bool = Field(description="Newest observation older than two fetch intervals.")


class HealthResponse(BaseModel):
    status: Literal["ok", "stale"] = Field(
        description="'stale' when any configured coin has no observation within two intervals."
    )
    engine: Literal["duckdb", "athena"]
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
