"""/prices/latest and /prices/history."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response

from api.deps import LakeDep, single_valued_query
from api.downloads import HISTORY_CSV, csv_answer
from api.errors import BAD_INPUT, NOT_FOUND_OR_RULE, UNAVAILABLE
from api.headers import until_next_slot
from api.models import HistoryResponse, LatestResponse
from nebulastream.coins import ONE_SYMBOL_PATTERN, SYMBOLS_PATTERN
from nebulastream.query import export, service
from nebulastream.query.service import Interval
from nebulastream.sources.registry import REGISTRY
from nebulastream.timeutil import TIME_PATTERN

router = APIRouter(prefix="/prices", tags=["prices"], dependencies=[Depends(single_valued_query)])

TIME_HELP = (
    "RFC 3339 with an offset (2026-11-01T00:00:00Z) or Unix seconds (1793491200), ASCII digits."
)
# Every known coin, comma-separated, fits with room to spare.
MAX_COINS_TEXT = 512

# `best` or a registry name: an enum, so the OpenAPI document lists them and any other value
# is a 400 naming the known ones.
SourceName = StrEnum("SourceName", {name: name for name in ("best", *REGISTRY)})  # type: ignore[misc]
BEST_SOURCE = SourceName("best")
SourceQuery = Annotated[
    SourceName,
    Query(
        description="best (default): each 5-minute slot from the first source in "
        "NEBULA_SOURCE_PRIORITY that has it, so two sources never double a bucket; or one "
        "source's rows only.",
    ),
]


@router.get(
    "/latest",
    response_model=LatestResponse,
    responses={**BAD_INPUT, **NOT_FOUND_OR_RULE, **UNAVAILABLE},
    summary="The newest stored price of each coin",
)
def latest_prices(
    lake: LakeDep,
    coin: Annotated[
        str | None,
        Query(
            description="Comma-separated symbols (ASCII letters and digits); default: the "
            "configured coins.",
            examples=["BTC,ETH"],
            pattern=SYMBOLS_PATTERN,
            max_length=MAX_COINS_TEXT,
        ),
    ] = None,
    source: SourceQuery = BEST_SOURCE,
) -> Response:
    """Fresh within one fetch interval: batches not yet curated are read too."""
    coins = service.parse_coins(coin, lake.settings.known_coin_ids, lake.settings.coins)
    prices = lake.latest(coins, lake.sources(source))
    return lake.answer(LatestResponse.model_construct(as_of=lake.now, prices=prices))


@router.get(
    "/history",
    response_model=HistoryResponse,
    responses={**HISTORY_CSV, **BAD_INPUT, **NOT_FOUND_OR_RULE, **UNAVAILABLE},
    summary="OHLC buckets of one coin over [start, end)",
)
def price_history(
    lake: LakeDep,
    coin: Annotated[
        str,
        Query(description="One symbol (ASCII letters and digits).", pattern=ONE_SYMBOL_PATTERN),
    ],
    start: Annotated[
        str | None,
        Query(description=f"Inclusive; default end - 24 h. {TIME_HELP}", pattern=TIME_PATTERN),
    ] = None,
    end: Annotated[
        str | None, Query(description=f"Exclusive; default now. {TIME_HELP}", pattern=TIME_PATTERN)
    ] = None,
    interval: Annotated[
        Interval, Query(description="Bucket size; buckets align to the Unix epoch, UTC.")
    ] = Interval.M5,
    source: SourceQuery = BEST_SOURCE,
    answer_format: Annotated[
        Literal["json", "csv"],
        Query(alias="format", description="json, or csv: a download with a header row."),
    ] = "json",
) -> Response:
    """Buckets with no observation are left out; at most 10,000 buckets per request. A bucket
    is OHLC over candles and points alike: open = first open (a point's price), high = max of
    highs, low = min of lows, close = last close."""
    symbol = service.parse_one_coin(coin, lake.settings.known_coin_ids)
    lo, hi = service.resolve_range(start, end, lake.now, lake.settings.fetch_interval_seconds)
    points = lake.history(symbol, lo, hi, interval, lake.sources(source))
    if answer_format == "csv":  # the same points the JSON is made of
        return csv_answer(
            export.History(symbol, interval, lo, hi, points),
            until_next_slot(lake.now, lake.settings.fetch_interval_seconds),
        )
    return lake.answer(
        HistoryResponse.model_construct(
            coin=symbol, interval=interval.value, start=lo, end=hi, points=points
        )
    )
