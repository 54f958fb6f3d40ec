"""/alerts (rules with their state) and /alerts/history (firings), read from the lake."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated, Literal, TypeVar

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from api.deps import NowDep, SettingsDep, single_valued_query
from api.errors import BAD_INPUT, NOT_FOUND_OR_RULE, UNAVAILABLE
from nebulastream.alerts.edge import Alerts, make_senders
from nebulastream.alerts.rules import RulesError
from nebulastream.alerts.service import statuses
from nebulastream.edge import make_lake
from nebulastream.lake.storage import LakeError
from nebulastream.query import EngineError
from nebulastream.query.service import QueryInputError, parse_bound
from nebulastream.settings import Settings
from nebulastream.timeutil import UtcTime

router = APIRouter(prefix="/alerts", tags=["alerts"], dependencies=[Depends(single_valued_query)])

_lock = threading.Lock()
T = TypeVar("T")


def get_alerts(request: Request, settings: SettingsDep) -> Alerts:
    """The lake's alert state and rules, built once per app (tests override this)."""
    alerts: Alerts | None = getattr(request.app.state, "alerts", None)
    if alerts is None:
        with _lock:
            alerts = getattr(request.app.state, "alerts", None)
            if alerts is None:
                alerts = _build(settings)
                request.app.state.alerts = alerts
    return alerts


def _build(settings: Settings) -> Alerts:
    # Nothing is sent from the API: a console sender only names the configured channels.
    senders = make_senders(settings, emit=lambda _: None)
    return Alerts(settings, make_lake(settings), senders)


AlertsDep = Annotated[Alerts, Depends(get_alerts)]


class AlertRule(BaseModel):
    name: str = Field(examples=["btc-high"])
    kind: Literal["above", "below", "change", "stale"]
    coin: str = Field(examples=["BTC"])
    condition: str = Field(examples=["BTC above 120000 USD"])
    threshold: float = Field(
        description="A price (above/below), a percent (change) or seconds (stale).",
        examples=[120000],
    )
    within_seconds: float | None = Field(description="The change window; null otherwise.")
    cooldown_seconds: float = Field(examples=[3600])
    hysteresis_pct: float = Field(examples=[0.5])
    channels: list[Literal["webhook", "sns", "console"]]
    state: Literal["armed", "firing"] = Field(
        description="'firing' from a firing until the condition is clearly false again."
    )
    last_value: float | None = Field(
        description="At the last evaluation: the price, or the age in seconds for stale."
    )
    last_ts: UtcTime | None = Field(description="The observation the last value comes from.")
    last_checked: UtcTime | None
    last_fired: UtcTime | None
    next_possible: UtcTime | None = Field(
        description="The end of the cooldown after the last firing; null: any time."
    )


class AlertsResponse(BaseModel):
    as_of: UtcTime
    rules: list[AlertRule]
    pending_deliveries: int = Field(description="Firings with channels still to deliver to.")
    evaluated_at: UtcTime | None = Field(description="The last evaluation (after a fetch).")
    problem: str | None = Field(
        description="Why the rules file cannot be used (file:line: what); null when fine."
    )


class AlertFiring(BaseModel):
    id: str = Field(description="The firing's idempotency key, as sent to every channel.")
    rule: str
    kind: Literal["above", "below", "change", "stale"]
    coin: str
    value: float = Field(description="The stored price, or the age in seconds for stale.")
    threshold: float
    ts: UtcTime = Field(description="The instant the value holds at.")
    observed_ts: UtcTime = Field(description="The stored observation behind the value.")
    fired_at: UtcTime
    text: str
    move_pct: float | None = Field(description="change: the signed move, percent.")
    reference: float | None = Field(description="change: the price the move is measured from.")
    channels: list[str]
    delivered: dict[str, UtcTime] = Field(description="Channel -> when it took the message.")
    failed: dict[str, str] = Field(description="Channel -> why it was given up.")


class AlertHistoryResponse(BaseModel):
    since: UtcTime
    firings: list[AlertFiring] = Field(description="Oldest first.")


def _read_state(read: Callable[[], T], response: Response) -> T:
    """Alert state from the lake, never cached (it changes on every fetch); a lake that
    cannot be read is the documented 503, like an engine that cannot answer."""
    try:
        value = read()
    except LakeError as error:
        raise EngineError(str(error)) from error
    response.headers["Cache-Control"] = "no-store"
    return value


@router.get(
    "",
    response_model=AlertsResponse,
    responses=UNAVAILABLE,
    summary="Alert rules with their state: armed or firing, last fired, next possible",
)
def list_alerts(alerts: AlertsDep, now: NowDep, response: Response) -> AlertsResponse:
    problem = None
    try:
        rules = alerts.rules()
    except RulesError as error:
        rules, problem = [], str(error)
    state, _ = _read_state(alerts.store.load, response)
    return AlertsResponse(
        as_of=now,
        rules=[
            AlertRule(
                name=s.rule.name,
                kind=s.rule.kind.value,
                coin=s.rule.coin,
                condition=s.rule.describe(),
                threshold=s.rule.threshold,
                within_seconds=s.rule.within.total_seconds() if s.rule.within else None,
                cooldown_seconds=s.rule.cooldown.total_seconds(),
                hysteresis_pct=s.rule.hysteresis_pct,
                channels=s.channels,
                state=s.state.status,
                last_value=s.state.last_value,
                last_ts=s.state.last_ts,
                last_checked=s.state.last_checked,
                last_fired=s.state.last_fired,
                next_possible=s.next_possible,
            )
            for s in statuses(rules, state, list(alerts.senders))
        ],
        pending_deliveries=len(state.pending),
        evaluated_at=state.evaluated_at,
        problem=problem,
    )


@router.get(
    "/history",
    response_model=AlertHistoryResponse,
    # 422: a well-formed `since` off the calendar's range (the API's rule, api/errors.py).
    responses={**BAD_INPUT, 422: NOT_FOUND_OR_RULE[422], **UNAVAILABLE},
    summary="Firings since a time (default: the last 24 hours), with their values",
)
def alert_history(
    alerts: AlertsDep,
    now: NowDep,
    response: Response,
    since: Annotated[
        str | None,
        Query(description="RFC 3339 or Unix seconds; default 24 hours ago."),
    ] = None,
) -> AlertHistoryResponse:
    start: datetime | None = parse_bound("since", since)
    if start is None:
        start = now - timedelta(hours=24)
    if start > now + timedelta(days=1):
        raise QueryInputError("since", f"since ({since}) is in the future: nothing fired yet.")
    records = _read_state(lambda: alerts.store.history(start), response)
    return AlertHistoryResponse(
        since=start,
        firings=[
            AlertFiring(
                **r.firing.model_dump(exclude={"kind", "channels"}),
                kind=r.firing.kind.value,
                channels=list(r.firing.channels),
                delivered=r.delivered,
                failed=r.failed,
            )
            for r in records
        ],
    )
