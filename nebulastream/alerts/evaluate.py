"""Edge-triggered evaluation: (rules, state, readings, now) -> new state and new firings. Pure.

A rule is `armed` until its condition becomes true; then it fires once and is `firing` until
the condition is clearly false again (past the hysteresis band), when it re-arms. A rule never
fires twice within its cooldown: a crossing inside the cooldown waits, armed, and fires at the
first evaluation after the cooldown if the condition still holds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from nebulastream.alerts.rules import Channel, Kind, Rule, human
from nebulastream.timeutil import iso_z


@dataclass(frozen=True)
class Reading:
    """What the lake says about one rule's coin now.

    `value` is the newest stored price (above/below/change), `ts` that observation's time;
    `move_pct` the signed largest move of that price against the window (change only), from
    `reference`. For stale, `value` is unused: the age comes from `ts` and the clock.
    """

    value: float
    ts: datetime
    move_pct: float | None = None
    reference: float | None = None


class RuleState(BaseModel):
    model_config = ConfigDict(extra="ignore")

    status: Literal["armed", "firing"] = "armed"
    last_fired: datetime | None = None
    last_value: float | None = None
    last_ts: datetime | None = None
    last_checked: datetime | None = None
    # The rule's definition when the state was kept: an edited rule starts armed again.
    definition: str = ""


class Firing(BaseModel):
    """One firing: what is sent to every channel, and kept in the history."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str
    rule: str
    kind: Kind
    coin: str
    value: float
    threshold: float
    ts: datetime
    fired_at: datetime
    text: str
    observed_ts: datetime
    move_pct: float | None = None
    reference: float | None = None
    channels: list[Channel] = Field(default_factory=list)

    def payload(self, *, test: bool = False) -> dict[str, object]:
        """The JSON body of the webhook: Slack shows `text`, Discord `content`."""
        body: dict[str, object] = {
            "id": self.id,
            "rule": self.rule,
            "kind": self.kind.value,
            "coin": self.coin,
            "value": self.value,
            "threshold": self.threshold,
            "ts": iso_z(self.ts),
            "observed_ts": iso_z(self.observed_ts),
            "fired_at": iso_z(self.fired_at),
            "text": self.text,
            "content": self.text,
        }
        if self.move_pct is not None:
            body["move_pct"] = self.move_pct
            body["reference"] = self.reference
        if test:
            body["test"] = True
        return body


class Pending(BaseModel):
    """A firing with channels still to deliver to; retried at every evaluation."""

    firing: Firing
    channels: list[Channel]
    attempts: int = 0
    last_error: str | None = None
    lease_until: datetime | None = None
    lease_owner: str | None = None


class AlertState(BaseModel):
    """Everything evaluation remembers, one document in the lake (alerts/state.json)."""

    model_config = ConfigDict(extra="ignore")

    rules: dict[str, RuleState] = Field(default_factory=dict)
    pending: list[Pending] = Field(default_factory=list)
    evaluated_at: datetime | None = None


@dataclass(frozen=True)
class Outcome:
    state: AlertState
    firings: list[Firing]


def definition(rule: Rule) -> str:
    return rule.model_dump_json(exclude={"channels"})


def firing_id(rule: Rule, observed: datetime) -> str:
    """Deterministic per (rule, observation): a re-run over the same data gets the same id."""
    return f"{rule.name}-{observed.strftime('%Y%m%dT%H%M%S')}{observed.microsecond // 1000:03d}Z"


def condition(rule: Rule, reading: Reading, now: datetime) -> tuple[bool, bool, float]:
    """(active, clear, value): the condition holds / is clearly false (past the hysteresis)."""
    band = rule.hysteresis_pct / 100
    if rule.above is not None:
        return reading.value > rule.above, reading.value < rule.above * (1 - band), reading.value
    if rule.below is not None:
        return reading.value < rule.below, reading.value > rule.below * (1 + band), reading.value
    if rule.change_pct is not None:
        move = abs(reading.move_pct or 0.0)
        return move >= rule.change_pct, move < rule.change_pct * (1 - band), reading.value
    assert rule.stale_for is not None
    age = (now - reading.ts).total_seconds()
    limit = rule.stale_for.total_seconds()
    return age >= limit, age < limit, age


def _text(rule: Rule, reading: Reading, value: float) -> str:
    match rule.kind:
        case Kind.ABOVE | Kind.BELOW:
            side = "above" if rule.kind is Kind.ABOVE else "below"
            return (
                f"{rule.name}: {rule.coin} is {value:,.8g} USD, {side} {rule.threshold:,.8g} "
                f"(at {iso_z(reading.ts)})"
            )
        case Kind.CHANGE:
            assert rule.within is not None
            return (
                f"{rule.name}: {rule.coin} moved {reading.move_pct or 0:+.2f} % within "
                f"{human(rule.within)}, from {reading.reference or 0:,.8g} to {value:,.8g} USD "
                f"(at {iso_z(reading.ts)})"
            )
        case Kind.STALE:
            return (
                f"{rule.name}: no new {rule.coin} price for {human(timedelta(seconds=value))} "
                f"(newest at {iso_z(reading.ts)}); the pipeline may be down"
            )


def evaluate(
    rules: Sequence[Rule],
    state: AlertState,
    readings: Mapping[str, Reading | None],
    now: datetime,
    channels_for: Mapping[str, list[Channel]],
) -> Outcome:
    """Advance every rule by one evaluation; readings are by rule name (None: no data yet).

    A rule without data keeps its state: a fresh lake fires no `stale` alert.
    """
    new = state.model_copy(deep=True)
    new.rules = {}
    firings: list[Firing] = []
    for rule in rules:
        old = state.rules.get(rule.name)
        current = (
            old.model_copy() if old is not None and old.definition == definition(rule) else None
        )
        current = current or RuleState(definition=definition(rule))
        reading = readings.get(rule.name)
        if reading is not None:
            active, clear, value = condition(rule, reading, now)
            current.last_value, current.last_ts, current.last_checked = value, reading.ts, now
            if current.status == "armed" and active:
                cooling = (
                    current.last_fired is not None and now < current.last_fired + rule.cooldown
                )
                if not cooling:
                    firing = Firing(
                        id=firing_id(rule, reading.ts),
                        rule=rule.name,
                        kind=rule.kind,
                        coin=rule.coin,
                        value=value,
                        threshold=rule.threshold,
                        ts=now if rule.kind is Kind.STALE else reading.ts,
                        observed_ts=reading.ts,
                        fired_at=now,
                        text=_text(rule, reading, value),
                        move_pct=reading.move_pct if rule.kind is Kind.CHANGE else None,
                        reference=reading.reference if rule.kind is Kind.CHANGE else None,
                        channels=list(channels_for[rule.name]),
                    )
                    firings.append(firing)
                    current.status, current.last_fired = "firing", now
            elif current.status == "firing" and clear:
                current.status = "armed"
        new.rules[rule.name] = current
    new.pending = [*new.pending, *(Pending(firing=f, channels=f.channels) for f in firings)]
    new.evaluated_at = now
    return Outcome(new, firings)
