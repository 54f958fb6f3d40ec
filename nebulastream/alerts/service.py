"""One evaluation after a fetch: read, evaluate, record, deliver. Called by the edges.

Delivery is at-least-once with an idempotency key (the firing id) per firing: a firing is
recorded in the state before any channel is tried, each channel is marked done once it
accepted the message, and a channel that failed is tried again at the next evaluation (for
up to a day). A short lease in the state keeps two concurrent evaluations from sending the
same firing, so a receiver that answers 2xx gets each firing once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from nebulastream.alerts.channels import DeliveryError, Sender
from nebulastream.alerts.evaluate import (
    AlertState,
    Firing,
    Outcome,
    Pending,
    Reading,
    RuleState,
    definition,
    evaluate,
    firing_id,
)
from nebulastream.alerts.rules import Channel, Kind, Rule
from nebulastream.alerts.store import AlertStore

log = logging.getLogger(__name__)

Reader = Callable[[Sequence[Rule], datetime], Mapping[str, Reading | None]]

LEASE = timedelta(seconds=90)
GIVE_UP_AFTER = timedelta(days=1)


def default_channels(configured: Sequence[str]) -> list[Channel]:
    """Rules without `channels` go to every configured remote channel, else the console."""
    remote: list[Channel] = [c for c in ("webhook", "sns") if c in configured]
    return remote or ["console"]


def channels_for(rules: Sequence[Rule], configured: Sequence[str]) -> dict[str, list[Channel]]:
    fallback = default_channels(configured)
    return {rule.name: list(rule.channels or fallback) for rule in rules}


@dataclass
class AlertRun:
    """What one evaluation did, for the caller to print or log."""

    fired: list[Firing] = field(default_factory=list)
    delivered: list[tuple[str, str]] = field(default_factory=list)  # (firing id, channel)
    failed: list[tuple[str, str, str]] = field(default_factory=list)  # (id, channel, reason)
    dropped: list[str] = field(default_factory=list)  # firing ids given up after a day

    def summary(self) -> dict[str, object]:
        return {
            "fired": [f.id for f in self.fired],
            "delivered": [f"{i} -> {c}" for i, c in self.delivered],
            "failed": [f"{i} -> {c}: {r}" for i, c, r in self.failed],
            "dropped": self.dropped,
        }


def evaluate_and_deliver(
    rules: Sequence[Rule],
    store: AlertStore,
    reader: Reader,
    senders: Mapping[str, Sender],
    *,
    now: datetime,
    owner: str,
) -> AlertRun:
    """Evaluate every rule on the lake's newest values, then deliver what is pending.

    `owner` names this evaluation in delivery leases (a Lambda request id, a process id).
    Raises only what reading the lake raises (EngineError, LakeError): callers after a fetch
    log it and go on.
    """
    run = AlertRun()
    if rules:
        readings = reader(rules, now)
        routes = channels_for(rules, list(senders))

        def step(state: AlertState) -> tuple[AlertState, list[Firing]]:
            outcome = evaluate(rules, state, readings, now, routes)
            return outcome.state, outcome.firings

        run.fired = store.transact(step)
        for firing in run.fired:
            store.record(firing)
    deliver_pending(store, senders, now=now, owner=owner, run=run)
    return run


def deliver_pending(
    store: AlertStore,
    senders: Mapping[str, Sender],
    *,
    now: datetime,
    owner: str,
    run: AlertRun,
) -> None:
    def claim(state: AlertState) -> tuple[AlertState, list[Pending]]:
        mine = []
        for item in state.pending:
            if item.lease_until is None or item.lease_until <= now or item.lease_owner == owner:
                item.lease_until, item.lease_owner = now + LEASE, owner
                mine.append(item.model_copy(deep=True))
        return state, mine

    if not store.load()[0].pending:
        return  # the common case: nothing to deliver, nothing to write
    claimed = store.transact(claim)
    if not claimed:
        return
    done: dict[str, list[str]] = {}
    errors: dict[str, dict[str, str]] = {}
    for item in claimed:
        for channel in item.channels:
            sender = senders.get(channel)
            try:
                if sender is None:
                    raise DeliveryError(f"channel {channel!r} is not configured here")
                sender.send(item.firing)
            except DeliveryError as error:
                log.warning("alert %s not delivered to %s: %s", item.firing.id, channel, error)
                errors.setdefault(item.firing.id, {})[channel] = str(error)
                run.failed.append((item.firing.id, channel, str(error)))
            else:
                done.setdefault(item.firing.id, []).append(channel)
                run.delivered.append((item.firing.id, channel))

    finished: list[tuple[Pending, dict[str, str]]] = []

    def settle(state: AlertState) -> tuple[AlertState, None]:
        finished.clear()
        kept = []
        for item in state.pending:
            fid = item.firing.id
            if item.lease_owner != owner or all(fid != c.firing.id for c in claimed):
                kept.append(item)
                continue
            item.channels = [c for c in item.channels if c not in done.get(fid, [])]
            item.lease_until = item.lease_owner = None
            if fid in errors:
                item.attempts += 1
                item.last_error = "; ".join(f"{c}: {r}" for c, r in errors[fid].items())
            if not item.channels:
                finished.append((item, {}))
            elif now - item.firing.fired_at > GIVE_UP_AFTER:
                log.error("alert %s dropped after a day of failed delivery: %s", fid, errors)
                run.dropped.append(fid)
                finished.append((item, errors.get(fid, {})))
            else:
                kept.append(item)
        state.pending = kept
        return state, None

    store.transact(settle)
    for item, failed in finished:
        delivered: dict[str, datetime] = {
            c: now for c in item.firing.channels if c not in item.channels
        }
        store.finish(item.firing, delivered, failed)


def dry_run(
    rules: Sequence[Rule],
    store: AlertStore,
    reader: Reader,
    configured: Sequence[str],
    now: datetime,
) -> tuple[Outcome, Mapping[str, Reading | None]]:
    """What the next evaluation would fire now; nothing is written or sent."""
    readings = reader(rules, now)
    state, _ = store.load()
    return evaluate(rules, state, readings, now, channels_for(rules, configured)), readings


def sample_firing(rule: Rule, reading: Reading | None, now: datetime) -> Firing:
    """A clearly marked test message for a rule, with its current value when there is one."""
    value = rule.threshold if reading is None else reading.value
    if rule.kind is Kind.STALE and reading is not None:
        value = (now - reading.ts).total_seconds()
    return Firing(
        id=f"test-{firing_id(rule, now)}",
        rule=rule.name,
        kind=rule.kind,
        coin=rule.coin,
        value=value,
        threshold=rule.threshold,
        ts=now,
        observed_ts=reading.ts if reading is not None else now,
        fired_at=now,
        text=f"Test of {rule.name} ({rule.describe()}); current value {value:,.8g}",
        channels=[],
    )


def send_test(
    rule: Rule, reading: Reading | None, senders: Mapping[str, Sender], now: datetime
) -> dict[str, str | None]:
    """Send a test message to each of the rule's channels; channel -> error (None: sent)."""
    firing = sample_firing(rule, reading, now)
    results: dict[str, str | None] = {}
    for channel in channels_for([rule], list(senders))[rule.name]:
        sender = senders.get(channel)
        try:
            if sender is None:
                raise DeliveryError(f"channel {channel!r} is not configured here")
            sender.send(firing, test=True)
            results[channel] = None
        except DeliveryError as error:
            results[channel] = str(error)
    return results


@dataclass(frozen=True)
class RuleStatus:
    """One rule as GET /alerts shows it."""

    rule: Rule
    channels: list[Channel]
    state: RuleState
    next_possible: datetime | None


def statuses(
    rules: Sequence[Rule], state: AlertState, configured: Sequence[str]
) -> list[RuleStatus]:
    routes = channels_for(rules, configured)
    out = []
    for rule in rules:
        kept = state.rules.get(rule.name)
        current = kept if kept is not None and kept.definition == definition(rule) else None
        current = current or RuleState(definition=definition(rule))
        last = current.last_fired
        out.append(
            RuleStatus(rule, routes[rule.name], current, last + rule.cooldown if last else None)
        )
    return out
