"""/prices/latest and /prices/history."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response

from api.deps import EngineDep, NowDep, SettingsDep, single_valued_query
from api.downloads import HISTORY_CSV, csv_answer
from api.errors import BAD_INPUT, UNAVAILABLE
from api.headers import answer, until_next_slot
from api.models import HistoryPoint, HistoryResponse, LatestPrice, LatestResponse
from nebulastream.query import service
from nebulastream.query.service import Interval

router = APIRouter(prefix="/prices", tags=["prices"], dependencies=[Depends(single_valued_query)])

TIME_HELP = "RFC 3339 (2026-11-01T00:00:00Z) or Unix seconds (1793491200)."


@router.get(
    "/latest",
    response_model=LatestResponse,
    responses={**BAD_INPUT, **UNAVAILABLE},
    summary="The newest stored price of each coin",
)
def latest_prices(
    settings: SettingsDep,
    engine: EngineDep,
    now: NowDep,
    coin: Annotated[
        str | None,
        Query(
            description="Comma-separated symbols; default: the configured coins.",
            examples=["BTC,ETH"],
        ),
    ] = None,
) -> Response:
    """Fresh within one fetch interval: batches not yet curated are read too."""
    coins = service.parse_coins(coin, settings.known_coin_ids, settings.coins)
    prices = service.latest(engine, coins, now, settings.raw_lookback_days)
    body = LatestResponse.model_construct(
        as_of=now,
        prices=[
            LatestPrice.model_construct(
                coin=p.coin,
                price_usd=p.price_usd,
                market_cap_usd=p.market_cap_usd,
                volume_24h_usd=p.volume_24h_usd,
                change_24h_pct=p.change_24h_pct,
                ts=p.ts,
                source=p.source,
            )
            for p in prices
        ],
    )
    return answer(body, until_next_slot(now, settings.fetch_interval_seconds))


@router.get(
    "/history",
    response_model=HistoryResponse,
    responses={**HISTORY_CSV, **BAD_INPUT, **UNAVAILABLE},
    summary="OHLC buckets of one coin over [start, end)",
)
def price_history(
    settings: SettingsDep,
    engine: EngineDep,
    now: NowDep,
    coin: Annotated[str, Query(description="One symbol.", examples=["ETH"])],
    start: Annotated[
        str | None, Query(description=f"Inclusive; default end - 24 h. {TIME_HELP}")
    ] = None,
    end: Annotated[str | None, Query(description=f"Exclusive; default now. {TIME_HELP}")] = None,
    interval: Annotated[
        Interval, Query(description="Bucket size; buckets align to the Unix epoch, UTC.")
    ] = Interval.M5,
    answer_format: Annotated[
        Literal["json", "csv"],
        Query(alias="format", description="json, or csv: a download with a header row."),
    ] = "json",
) -> Response:
    """Buckets with no observation are left out; at most 10,000 buckets per request."""
    symbol = service.parse_one_coin(coin, settings.known_coin_ids)
    lo, hi = service.resolve_range(start, end, now, settings.fetch_interval_seconds)
    result = service.history(engine, symbol, lo, hi, interval, now, settings.raw_lookback_days)
    if answer_format == "csv":
        return csv_answer(result, until_next_slot(now, settings.fetch_interval_seconds))
    body = HistoryResponse.model_construct(
        coin=result.coin,
        interval=result.interval.value,
        start=result.start,
        end=result.end,
        points=[
            HistoryPoint.model_construct(
                ts=b.ts,
                open=b.open,
                high=b.high,
                low=b.low,
                close=b.close,
                samples=b.samples,
                market_cap_usd=b.market_cap_usd,
                volume_24h_usd=b.volume_24h_usd,
            )
            for b in result.points
        ],
    )
    return answer(body, until_next_slot(now, settings.fetch_interval_seconds))
