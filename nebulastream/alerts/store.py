"""Alert state in the lake: one document changed only by compare-and-set, plus the history.

`alerts/state.json` holds every rule's state and the firings still to deliver. Each change
reads it with its version and writes it back only if nobody changed it since (S3 If-Match /
If-None-Match, a locked compare-and-rename locally); on a conflict the change is recomputed
on the newer state. So two runs of the same fetch (a Lambda retry, a duplicated event, two
`nebula fetch` at once) cannot both record the same crossing: the second sees it recorded.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Protocol, TypeVar

from pydantic import BaseModel, Field, ValidationError

from nebulastream.alerts.evaluate import AlertState, Firing
from nebulastream.lake.layout import ALERT_HISTORY, ALERT_STATE, alert_history_key
from nebulastream.lake.storage import LakeError

log = logging.getLogger(__name__)

JSON = "application/json"
T = TypeVar("T")


class AlertLake(Protocol):
    """The lake operations alert state needs (LocalLake and S3Lake both provide them)."""

    uri: str

    def get(self, key: str) -> bytes: ...

    def put(self, key: str, data: bytes, content_type: str) -> None: ...

    def list(self, prefix: str) -> Iterator[str]: ...

    def get_versioned(self, key: str) -> tuple[bytes, str] | None: ...

    def put_if_absent(self, key: str, data: bytes, content_type: str) -> bool: ...

    def put_if_match(self, key: str, data: bytes, content_type: str, version: str) -> bool: ...


class StateConflictError(LakeError):
    """The state kept changing under us; the next evaluation tries again."""


class HistoryRecord(BaseModel):
    firing: Firing
    delivered: dict[str, datetime] = Field(default_factory=dict)
    failed: dict[str, str] = Field(default_factory=dict)


class AlertStore:
    def __init__(self, lake: AlertLake, *, attempts: int = 5) -> None:
        self.lake = lake
        self.attempts = attempts

    def load(self) -> tuple[AlertState, str | None]:
        found = self.lake.get_versioned(ALERT_STATE)
        if found is None:
            return AlertState(), None
        data, version = found
        try:
            return AlertState.model_validate_json(data), version
        except ValidationError as error:
            # Unreadable state must not stop alerting for good: start over (rules re-arm).
            log.warning("alert state %s is unreadable (%s); starting afresh", ALERT_STATE, error)
            return AlertState(), version

    def _save(self, state: AlertState, version: str | None) -> bool:
        data = state.model_dump_json(indent=1).encode()
        if version is None:
            return self.lake.put_if_absent(ALERT_STATE, data, JSON)
        return self.lake.put_if_match(ALERT_STATE, data, JSON, version)

    def transact(self, change: Callable[[AlertState], tuple[AlertState, T]]) -> T:
        """Apply `change` to the newest state and store it, recomputing on a conflict."""
        for _ in range(self.attempts):
            state, version = self.load()
            new, result = change(state)
            if self._save(new, version):
                return result
            log.info("alert state changed while evaluating; recomputing on the newer state")
        raise StateConflictError(
            f"{self.lake.uri}: {ALERT_STATE} changed {self.attempts} times during one "
            "evaluation; the next fetch evaluates again."
        )

    def record(self, firing: Firing) -> None:
        """The firing's history record, written once (a re-run finds it there)."""
        record = HistoryRecord(firing=firing)
        self.lake.put_if_absent(
            alert_history_key(firing.fired_at, firing.id), record.model_dump_json().encode(), JSON
        )

    def finish(
        self, firing: Firing, delivered: dict[str, datetime], failed: dict[str, str]
    ) -> None:
        """Rewrite the record with the outcome of its delivery."""
        record = HistoryRecord(firing=firing, delivered=delivered, failed=failed)
        self.lake.put(
            alert_history_key(firing.fired_at, firing.id), record.model_dump_json().encode(), JSON
        )

    def history(self, since: datetime, until: datetime | None = None) -> list[HistoryRecord]:
        """Firings with fired_at >= since (and < until), oldest first."""
        first_day = f"{ALERT_HISTORY}dt={since:%Y-%m-%d}/"
        records = []
        for key in self.lake.list(ALERT_HISTORY):
            if key < first_day or not key.endswith(".json"):
                continue
            try:
                record = HistoryRecord.model_validate_json(self.lake.get(key))
            except (ValidationError, LakeError, json.JSONDecodeError):
                log.warning("skipping unreadable alert record %s", key)
                continue
            fired = record.firing.fired_at
            if fired >= since and (until is None or fired < until):
                records.append(record)
        return sorted(records, key=lambda r: (r.firing.fired_at, r.firing.id))
