"""How far raw/ is curated: the small state object that bounds the raw side of API queries.

    reports/_state/raw_bound.json
    {"version": 1, "since": "2026-11-28", "curated": [["raw/dt=2026-11-28/coingecko-spot-",
                                                        "raw/dt=2026-11-28/coingecko-spot-20261128T0405Z.jsonl"]]}

The curation pipeline writes it with the manifest (pipeline.record_raw_bound): raw partitions
before `since` are curated, and in the partitions from `since` on, each series of batch keys
(a key up to its last `-`: one source's spot slots, one backfill window) is curated up to its
last key. A query then reads raw only past the last curated slot: the partitions from `since`,
minus those key ranges, which Athena prunes by "$path" before opening a file. The manifest
itself lists every raw batch ever curated (megabytes after a year): too big for every query.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from nebulastream.lake.layout import RAW_BOUND, raw_partition
from nebulastream.lake.storage import LakeError, LakeStorage

log = logging.getLogger(__name__)
VERSION = 1
# A batch may land a while after its slot (the fetcher's retries end within ~11 minutes); the
# partitions of the last hour before a run stay readable so a late batch is never skipped.
LATE_BATCH_MARGIN = timedelta(hours=1)


@dataclass(frozen=True)
class RawBound:
    since: date
    curated: tuple[tuple[str, str], ...]  # (first, last) lake keys of each curated series

    def skip_ranges(self, uri: str, days: tuple[date, date]) -> tuple[tuple[str, str], ...]:
        """The curated key ranges inside raw partitions `days`, as full paths under `uri`."""
        base = uri if uri.endswith("/") else uri + "/"
        return tuple(
            (base + first, base + last)
            for first, last in self.curated
            if days[0].isoformat() <= str(raw_partition(last)) <= days[1].isoformat()
        )

    def to_json(self) -> bytes:
        body = {"version": VERSION, "since": self.since.isoformat(), "curated": self.curated}
        return json.dumps(body, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: bytes) -> RawBound:
        body = json.loads(data)
        if body.get("version") != VERSION:
            raise ValueError(f"version {body.get('version')!r}, not {VERSION}")
        pairs = tuple((str(a), str(b)) for a, b in body["curated"])
        return cls(date.fromisoformat(body["since"]), pairs)


def series(key: str) -> str:
    """The key up to its last '-': batches of one series differ only in their time."""
    return key.rsplit("-", 1)[0] + "-"


def bound_of(curated_keys: Iterable[str], now: datetime) -> RawBound:
    """The bound after a run that curated exactly `curated_keys` (its listing of raw/)."""
    by_day = {k: p for k in curated_keys if (p := raw_partition(k)) is not None}
    since = (now - LATE_BATCH_MARGIN).date()
    if by_day:
        since = min(since, date.fromisoformat(max(by_day.values())))
    last: dict[str, str] = {}
    for key, day in by_day.items():
        if day >= since.isoformat():
            prefix = series(key)
            last[prefix] = max(last.get(prefix, key), key)
    return RawBound(since, tuple(sorted(last.items())))


class CachedRawBound:
    """The bound read with one small GET at most every `ttl_seconds`; None when it is missing
    or unreadable (queries then fall back to NEBULA_RAW_LOOKBACK_DAYS of raw)."""

    def __init__(
        self,
        lake: LakeStorage,
        ttl_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.lake = lake
        self.uri = lake.uri
        self.ttl_seconds = ttl_seconds
        self.clock = clock
        self._value: RawBound | None = None
        self._read_at: float | None = None

    def __call__(self) -> RawBound | None:
        now = self.clock()
        if self._read_at is None or now - self._read_at >= self.ttl_seconds:
            self._value = self._read()
            self._read_at = now
        return self._value

    def _read(self) -> RawBound | None:
        try:
            return RawBound.from_json(self.lake.get(RAW_BOUND))
        except LakeError:
            log.warning("%s is missing: queries read raw over the look-back days", RAW_BOUND)
        except (ValueError, KeyError, TypeError) as error:
            log.warning(
                "%s is unreadable (%s): queries read raw over the look-back", RAW_BOUND, error
            )
        except Exception as error:  # botocore: credentials, network; never fail the query
            log.warning(
                "could not read %s (%s): queries read raw over the look-back", RAW_BOUND, error
            )
        return None
