"""What the rules look at, read through the query layer: the very values the API serves."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from nebulastream.alerts.evaluate import Reading
from nebulastream.alerts.rules import Kind, Rule
from nebulastream.query import service
from nebulastream.query.base import QueryEngine
from nebulastream.query.sql import BEST, Sources

_ONE_MS = timedelta(milliseconds=1)


def read(
    engine: QueryEngine,
    rules: Sequence[Rule],
    now: datetime,
    raw_lookback_days: int,
    sources: Sources = BEST,
) -> dict[str, Reading | None]:
    """One `latest` query for every rule's coin, plus one 5-minute history per change rule.

    A change rule's move is the largest of (newest / lowest - 1) and (newest / highest - 1) in
    absolute value over the observations of [newest ts - within, newest ts]: the price has
    moved that much, one way or the other, within the window.
    """
    coins = list(dict.fromkeys(rule.coin for rule in rules))
    if not coins:
        return {}
    newest = {p.coin: p for p in service.latest(engine, coins, now, raw_lookback_days, sources)}
    readings: dict[str, Reading | None] = {}
    for rule in rules:
        price = newest.get(rule.coin)
        if price is None:
            readings[rule.name] = None
        elif rule.kind is Kind.CHANGE:
            assert rule.within is not None
            history = service.history(
                engine,
                rule.coin,
                price.ts - rule.within,
                price.ts + _ONE_MS,
                service.Interval.M5,
                now,
                raw_lookback_days,
                sources,
            )
            low = min((b.low for b in history), default=price.price_usd)
            high = max((b.high for b in history), default=price.price_usd)
            up, down = price.price_usd / low - 1, price.price_usd / high - 1
            move, reference = (up, low) if up >= -down else (down, high)
            readings[rule.name] = Reading(price.price_usd, price.ts, move * 100, reference)
        else:
            readings[rule.name] = Reading(price.price_usd, price.ts)
    return readings
