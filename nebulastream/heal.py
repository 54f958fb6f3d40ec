"""Self-healing history: find missing 5-minute slots, refetch them from the best source that
still has them, and give up honestly on the ones no source has (docs/heal.md).

    coverage (query.service.coverage) -> find_pieces -> plan -> heal (fetch, store raw) -> curate

Planning is pure (find_pieces, plan): the gaps of each coin cut into pieces of one UTC day,
each either within the last 24 hours (CoinGecko's market_chart/range still serves 5-minute
points there) or older (exchange candles by NEBULA_SOURCE_PRIORITY); one request per coin for
the recent pieces, one per coin and day for the older ones. `heal` does the I/O through a
`fetch` callable and the lake it is given: each piece's observations go to a raw batch with the
deterministic backfill window key of (source, coin, piece), so a re-run or an overlap rewrites
and never duplicates; slots a source left empty go to the next source in the chain; a slot no
source has (every source answered, none had it) is recorded once in
reports/_state/unrecoverable.json with each source's answer and is not asked for again.
Resumable: each batch is stored as soon as it is fetched, and the next run's coverage sees it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

from nebulastream import completeness
from nebulastream.completeness import SLOT_SECONDS, Coverage, Range
from nebulastream.ingest import JSONL
from nebulastream.lake.layout import COVERAGE, UNRECOVERABLE, window_key
from nebulastream.lake.storage import LakeError, LakeStorage
from nebulastream.models import Observation, encode_batch
from nebulastream.sources import registry
from nebulastream.sources.base import SourceError
from nebulastream.timeutil import floor_to, iso_z, parse_time

log = logging.getLogger(__name__)

# CoinGecko's market_chart/range serves 5-minute points only for a range ending now that spans
# at most a day; older slots need 5-minute candles.
RECENT = timedelta(hours=24)
# A slot younger than this may still be on its way (a late fetch, an exchange's open candle):
# it is left for a later heal rather than asked for, and possibly given up on, too early.
SETTLE = timedelta(minutes=15)
DAY = 86400

# (source, coin, start, end, fetched_at) -> the source's observations in [start, end).
Fetch = Callable[[str, str, datetime, datetime, datetime], list[Observation]]


@dataclass(frozen=True)
class Piece:
    """Missing slots [start, end) of one coin within one UTC day, all recent or all older."""

    coin: str
    start: int  # Unix seconds on the slot grid
    end: int
    recent: bool

    def slots(self, step: int = SLOT_SECONDS) -> range:
        return range(self.start, self.end, step)

    @property
    def day(self) -> int:
        return self.start - self.start % DAY


@dataclass(frozen=True)
class Chains:
    """Which sources are tried, in order, for recent and for older slots, and what each lists."""

    recent: tuple[str, ...]
    older: tuple[str, ...]
    kinds: Mapping[str, str]  # source -> raw window kind ("history" points, "candles")
    listed: Mapping[str, frozenset[str]]  # source -> the coins it lists

    @property
    def order(self) -> tuple[str, ...]:
        """The order requests to different sources are made in."""
        return (*self.recent, *self.older)

    def for_piece(self, piece: Piece) -> list[str]:
        names = self.recent if piece.recent else self.older
        return [n for n in names if piece.coin in self.listed.get(n, frozenset())]


def chains(ranked: Sequence[str], listed: Callable[[str], Iterable[str]]) -> Chains:
    """Recent slots: the point sources serving the last day's 5-minute grid (CoinGecko), then
    the candle sources; older slots: the candle sources. Each in the order of `ranked`
    (Settings.ranked_sources: NEBULA_SOURCE_PRIORITY, then the registry's other sources)."""
    ordered = [registry.spec(n) for n in ranked]
    candles = tuple(s.name for s in ordered if s.past_five_minute)
    points = tuple(s.name for s in ordered if s.window_kind == "history" and not s.past_five_minute)
    names = (*points, *candles)
    return Chains(
        recent=names,
        older=candles,
        kinds={s.name: s.window_kind for s in ordered},
        listed={n: frozenset(listed(n)) for n in names},
    )


# -- unrecoverable slots: recorded once, in the lake -------------------------------------------


@dataclass(frozen=True)
class GivenUp:
    """A slot no source could fill: when it was recorded and what each source answered."""

    coin: str
    slot: int
    recorded_at: str
    answers: dict[str, str]


def load_unrecoverable(lake: LakeStorage) -> dict[tuple[str, int], GivenUp]:
    """The recorded slots by (coin, slot); none before the first record."""
    if not lake.exists(UNRECOVERABLE):
        return {}
    try:
        data = json.loads(lake.get(UNRECOVERABLE))
        return {
            (coin, int(parse_time(slot).timestamp())): GivenUp(
                coin, int(parse_time(slot).timestamp()), str(r["recorded_at"]), dict(r["answers"])
            )
            for coin, slots in data["slots"].items()
            for slot, r in slots.items()
        }
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise LakeError(
            f"{UNRECOVERABLE} in {lake.uri} is unreadable ({error}); delete it and run "
            "`nebula heal --retry-unrecoverable` to ask every source again."
        ) from None


def save_unrecoverable(lake: LakeStorage, records: Mapping[tuple[str, int], GivenUp]) -> None:
    slots: dict[str, dict[str, Any]] = {}
    for (coin, slot), record in sorted(records.items()):
        slots.setdefault(coin, {})[iso_z(completeness.utc(slot))] = {
            "recorded_at": record.recorded_at,
            "answers": record.answers,
        }
    body = {"version": 1, "slots": slots}
    lake.put(UNRECOVERABLE, (json.dumps(body, indent=1) + "\n").encode(), "application/json")


# -- planning (pure) ---------------------------------------------------------------------------


def heal_range(
    coverages: Mapping[str, Coverage],
    now: datetime,
    start: datetime | None = None,
    end: datetime | None = None,
) -> Range | None:
    """The slots a heal may fill: the lake's expected grid within [start, end), ending SETTLE
    before now. None when the lake holds nothing."""
    lake_end = completeness.lake_end(coverages.values())
    if lake_end is None:
        return None
    settled = completeness.seconds(floor_to(now - SETTLE, SLOT_SECONDS))
    hi = min(lake_end, settled, *([_ceil(end)] if end else []))
    lo = _ceil(start) if start else 0
    return (lo, hi) if hi > lo else None


def _ceil(moment: datetime) -> int:
    value = completeness.seconds(moment)
    return -(-value // SLOT_SECONDS) * SLOT_SECONDS


def find_pieces(
    coverages: Mapping[str, Coverage],
    coins: Sequence[str],
    now: datetime,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    skip: Iterable[tuple[str, int]] = (),
) -> list[Piece]:
    """The missing slots to ask for: each coin's gaps in the heal range minus the `skip`ped
    (unrecoverable) slots, cut at UTC midnight and at the start of the last 24 hours."""
    window = heal_range(coverages, now, start, end)
    lake_end = completeness.lake_end(coverages.values())
    if window is None or lake_end is None:
        return []
    skipped = set(skip)
    recent_from = _ceil(now - RECENT)
    pieces = []
    for coin in coins:
        cover = coverages.get(coin)
        if cover is None:
            continue
        for lo, hi in completeness.gaps(cover, lake_end, within=window):
            cuts = sorted(
                {lo, hi, *range(lo - lo % DAY + DAY, hi, DAY)} | _inside(recent_from, lo, hi)
            )
            for a, b in pairwise(cuts):
                for x, y in _without(a, b, coin, skipped):
                    pieces.append(Piece(coin, x, y, x >= recent_from))
    return pieces


def _inside(point: int, lo: int, hi: int) -> set[int]:
    return {point} if lo < point < hi else set()


def _without(lo: int, hi: int, coin: str, skipped: set[tuple[str, int]]) -> list[Range]:
    """[lo, hi) minus the skipped slots, as ranges."""
    ranges: list[Range] = []
    run: int | None = None
    for slot in range(lo, hi, SLOT_SECONDS):
        if (coin, slot) in skipped:
            if run is not None:
                ranges.append((run, slot))
                run = None
        elif run is None:
            run = slot
    if run is not None:
        ranges.append((run, hi))
    return ranges


@dataclass(frozen=True)
class Request:
    """One call to a source: a coin's [start, end), serving the slots of `pieces`."""

    source: str
    coin: str
    start: datetime
    end: datetime
    pieces: tuple[Piece, ...]

    @property
    def missing_slots(self) -> int:
        return sum(p.end - p.start for p in self.pieces) // SLOT_SECONDS


def requests_for(
    source: str,
    kind: str,
    wanted: Mapping[Piece, Sequence[int]],
    now: datetime,
) -> list[Request]:
    """The cheapest calls to `source` for the wanted slots of each piece.

    A point source (CoinGecko) serves the last day's 5-minute grid only for a range ending now:
    one call per coin. A candle source serves a day's 288 candles in one page: one call per
    coin and UTC day, over the wanted slots' span.
    """
    groups: dict[tuple[str, int], list[Piece]] = {}
    for piece in wanted:
        groups.setdefault((piece.coin, 0 if kind == "history" else piece.day), []).append(piece)
    requests = []
    for (coin, _), pieces in sorted(groups.items()):
        slots = [s for p in pieces for s in wanted[p]]
        lo = completeness.utc(min(slots))
        hi = now if kind == "history" else completeness.utc(max(slots) + SLOT_SECONDS)
        pieces.sort(key=lambda p: p.start)
        requests.append(Request(source, coin, lo, hi, tuple(pieces)))
    return requests


def plan(pieces: Sequence[Piece], chains: Chains, now: datetime) -> list[Request]:
    """The first-choice requests: each piece from the first source in its chain. Slots that
    source leaves empty cost further requests to the next ones (`heal` says how many)."""
    by_source: dict[str, dict[Piece, list[int]]] = {}
    for piece in pieces:
        names = chains.for_piece(piece)
        if names:
            by_source.setdefault(names[0], {})[piece] = list(piece.slots())
    return [
        request
        for name in sorted(by_source, key=chains.order.index)
        for request in requests_for(name, chains.kinds[name], by_source[name], now)
    ]


# -- healing (I/O through `fetch` and the lake) ------------------------------------------------


@dataclass
class CoinOutcome:
    """One row of the heal table."""

    coin: str
    gaps: int = 0  # runs of missing slots before
    missing_before: int = 0
    filled: int = 0
    still_missing: int = 0
    reasons: dict[str, int] = field(default_factory=dict)  # reason -> slots

    def add(self, reason: str, slots: int = 1) -> None:
        self.reasons[reason] = self.reasons.get(reason, 0) + slots


@dataclass
class HealResult:
    planned: int  # first-choice requests (what --dry-run shows)
    requests: int = 0  # requests made, fallbacks included
    batches: dict[str, int] = field(default_factory=dict)  # raw key -> observations stored
    coins: dict[str, CoinOutcome] = field(default_factory=dict)
    given_up: list[GivenUp] = field(default_factory=list)  # recorded by this run
    errors: list[str] = field(default_factory=list)
    filled_slots: set[tuple[str, int]] = field(default_factory=set)

    @property
    def filled(self) -> int:
        return sum(c.filled for c in self.coins.values())

    @property
    def days(self) -> list[str]:
        """The raw partitions this run wrote to (what the following curation rebuilds)."""
        return sorted({key.split("/")[1] for key in self.batches})

    def summary(self) -> dict[str, object]:
        return {
            "requests": self.requests,
            "planned_requests": self.planned,
            "filled": self.filled,
            "still_missing": sum(c.still_missing for c in self.coins.values()),
            "batches": len(self.batches),
            "unrecoverable_new": len(self.given_up),
            "errors": self.errors,
        }


OnRequest = Callable[[Request, int, int], None]  # (request, done, known total)


def heal(
    pieces: Sequence[Piece],
    chains: Chains,
    lake: LakeStorage,
    fetch: Fetch,
    *,
    now: datetime,
    known: Mapping[tuple[str, int], GivenUp],
    coins: Sequence[str],
    gaps_before: Mapping[str, tuple[int, int]] | None = None,
    on_request: OnRequest = lambda request, done, total: None,
) -> HealResult:
    """Fill the pieces' slots source by source along their chains; record the hopeless ones.

    `known` are the recorded unrecoverable slots (a piece holding one is a retry: it leaves
    the record when filled). `gaps_before` is (gap runs, missing slots) per coin for the table.
    """
    result = HealResult(planned=len(plan(pieces, chains, now)))
    for coin in coins:
        runs, missing = (gaps_before or {}).get(coin, (0, 0))
        result.coins[coin] = CoinOutcome(coin, runs, missing, still_missing=missing)
    remaining: dict[Piece, set[int]] = {p: set(p.slots()) for p in pieces}
    for coin, outcome in result.coins.items():
        skipped = outcome.missing_before - sum(
            len(s) for p, s in remaining.items() if p.coin == coin
        )
        if skipped > 0:
            outcome.add("recorded unrecoverable before (--retry-unrecoverable asks again)", skipped)
    answers: dict[tuple[str, int], dict[str, str]] = {}
    stage: dict[Piece, int] = {p: 0 for p in pieces}
    for piece in pieces:
        if not chains.for_piece(piece):
            outcome = result.coins.setdefault(piece.coin, CoinOutcome(piece.coin))
            outcome.add(f"no source lists {piece.coin}", len(remaining.pop(piece)))
    total = result.planned
    done = 0
    while remaining:
        by_source: dict[str, dict[Piece, list[int]]] = {}
        for piece, slots in remaining.items():
            name = chains.for_piece(piece)[stage[piece]]
            by_source.setdefault(name, {})[piece] = sorted(slots)
        for name in sorted(by_source, key=chains.order.index):
            requests = requests_for(name, chains.kinds[name], by_source[name], now)
            if done + len(requests) > total:
                total = done + len(requests)
            for request in requests:
                _serve(request, chains.kinds[name], lake, fetch, now, remaining, answers, result)
                result.requests += 1
                done += 1
                on_request(request, done, total)
        for piece in list(remaining):
            stage[piece] += 1
            if not remaining[piece] or stage[piece] >= len(chains.for_piece(piece)):
                _finish(piece, remaining.pop(piece), answers, known, now, result)
    _record(lake, known, result)
    return result


def _serve(
    request: Request,
    kind: str,
    lake: LakeStorage,
    fetch: Fetch,
    now: datetime,
    remaining: dict[Piece, set[int]],
    answers: dict[tuple[str, int], dict[str, str]],
    result: HealResult,
) -> None:
    """One request: store what it served for each piece's wanted slots, note what it did not."""
    name, coin = request.source, request.coin
    wanted = {s for p in request.pieces for s in remaining[p]}
    try:
        served = fetch(name, coin, request.start, request.end, now)
    except SourceError as error:
        result.errors.append(str(error))
        for slot in wanted:
            answers.setdefault((coin, slot), {})[name] = f"failed: {error}"
        return
    first: dict[int, Observation] = {}
    unusable: dict[int, str] = {}
    for observation in served:
        if observation.observed_at is None:
            continue
        slot = completeness.seconds(floor_to(observation.observed_at, SLOT_SECONDS))
        if slot not in wanted or slot in first:
            continue
        if problems := observation.problems():
            unusable.setdefault(slot, "; ".join(problems))
            continue
        first[slot] = observation
    for piece in request.pieces:
        picked = [first[s] for s in sorted(remaining[piece]) if s in first]
        if picked:
            start = completeness.utc(piece.start)
            key = window_key(name, kind, coin, start, completeness.utc(piece.end))
            # The slot field names the batch's window: its day is the key's dt= partition.
            batch = [replace(o, slot=start) for o in picked]
            lake.put(key, encode_batch(batch), JSONL)
            result.batches[key] = len(batch)
            result.coins[coin].filled += len(picked)
            result.coins[coin].still_missing -= len(picked)
        for slot in list(remaining[piece]):
            if slot in first:
                remaining[piece].discard(slot)
                result.filled_slots.add((coin, slot))
            else:
                answers.setdefault((coin, slot), {})[name] = (
                    f"unusable value: {unusable[slot]}" if slot in unusable else "no data"
                )


def _finish(
    piece: Piece,
    left: set[int],
    answers: Mapping[tuple[str, int], dict[str, str]],
    known: Mapping[tuple[str, int], GivenUp],
    now: datetime,
    result: HealResult,
) -> None:
    """Slots left after the whole chain: given up if every source answered, else retried later."""
    outcome = result.coins[piece.coin]
    for slot in sorted(left):
        said = answers.get((piece.coin, slot), {})
        failed = sorted(n for n, a in said.items() if a.startswith("failed"))
        if failed:
            outcome.add(f"{', '.join(failed)} failed; the next heal asks again")
            continue
        outcome.add(_no_source(said))
        if (piece.coin, slot) not in known:
            result.given_up.append(GivenUp(piece.coin, slot, iso_z(now), dict(said)))


def _no_source(said: Mapping[str, str]) -> str:
    names = list(said)  # in the order they were asked
    if all(a == "no data" for a in said.values()):
        return f"no source has it: nothing served by {' or '.join(names)} (unrecoverable)"
    return f"no usable value from {' or '.join(names)} (unrecoverable)"


def _record(
    lake: LakeStorage, known: Mapping[tuple[str, int], GivenUp], result: HealResult
) -> None:
    """Add the new unrecoverable slots, drop retried ones filled now; written only on change."""
    records = {k: v for k, v in known.items() if k not in result.filled_slots}
    for given in result.given_up:
        records[(given.coin, given.slot)] = given
    if records.keys() != known.keys():
        save_unrecoverable(lake, records)


def gap_counts(
    coverages: Mapping[str, Coverage],
    coins: Sequence[str],
    now: datetime,
    start: datetime | None = None,
    end: datetime | None = None,
) -> dict[str, tuple[int, int]]:
    """(gap runs, missing slots) per coin within the heal range: the table's 'before' columns."""
    window = heal_range(coverages, now, start, end)
    lake_end = completeness.lake_end(coverages.values())
    counts = {}
    for coin in coins:
        cover = coverages.get(coin)
        if cover is None or window is None or lake_end is None:
            counts[coin] = (0, 0)
            continue
        found = completeness.gaps(cover, lake_end, within=window)
        counts[coin] = (len(found), completeness.slots(found))
    return counts


def describe(request: Request) -> str:
    """One line for a plan or a progress bar."""
    span = f"{iso_z(request.start)} .. {iso_z(request.end)}"
    return f"{request.source} {request.coin} {span} ({request.missing_slots} missing slot(s))"


@dataclass(frozen=True)
class Job:
    """One heal over a lake, as the edges (CLI, `nebula run`, the heal function) ask for it."""

    coverages: Mapping[str, Coverage]  # query.service.coverage over the whole lake
    coins: Sequence[str]
    chains: Chains
    now: datetime
    start: datetime | None = None
    end: datetime | None = None
    retry_unrecoverable: bool = False

    def pieces(self, known: Mapping[tuple[str, int], GivenUp]) -> list[Piece]:
        skip = () if self.retry_unrecoverable else known
        return find_pieces(
            self.coverages, self.coins, self.now, start=self.start, end=self.end, skip=skip
        )

    def plan(self, lake: LakeStorage) -> tuple[list[Request], list[Piece]]:
        """What a heal would ask for (first choice per piece), and the pieces; no request."""
        pieces = self.pieces(load_unrecoverable(lake))
        return plan(pieces, self.chains, self.now), pieces

    def run(
        self,
        lake: LakeStorage,
        fetch: Fetch,
        on_request: OnRequest = lambda request, done, total: None,
    ) -> HealResult:
        known = load_unrecoverable(lake)
        return heal(
            self.pieces(known),
            self.chains,
            lake,
            fetch,
            now=self.now,
            known=known,
            coins=self.coins,
            gaps_before=gap_counts(self.coverages, self.coins, self.now, self.start, self.end),
            on_request=on_request,
        )


def load_coverage(lake: LakeStorage) -> dict[str, Coverage]:
    """The recent coverage the curation runs keep (reports/_state/coverage.json): what the heal
    function reads instead of querying; empty before the first curation run."""
    if not lake.exists(COVERAGE):
        return {}
    try:
        return completeness.coverage_from_state(json.loads(lake.get(COVERAGE)))
    except (ValueError, KeyError, TypeError, IndexError) as error:
        raise LakeError(
            f"{COVERAGE} in {lake.uri} is unreadable ({error}); delete it, the next curation "
            "run writes it again."
        ) from None


def given_up_message(result: HealResult) -> dict[str, object]:
    """What the alarm topic hears about newly unrecoverable slots."""
    return {
        "unrecoverable_new": len(result.given_up),
        "slots": [
            {"coin": g.coin, "slot": iso_z(completeness.utc(g.slot)), "answers": g.answers}
            for g in result.given_up[:50]
        ],
        "record": UNRECOVERABLE,
        "retry": "nebula heal --retry-unrecoverable",
    }
