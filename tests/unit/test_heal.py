"""nebula heal's core: completeness arithmetic, gap pieces, the plan, healing through a fake
fetch into a real local lake, the unrecoverable record, and "heal twice = heal once"."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, date, datetime
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from nebulastream import completeness, heal
from nebulastream.completeness import Coverage
from nebulastream.lake.layout import UNRECOVERABLE
from nebulastream.lake.storage import LocalLake
from nebulastream.models import Observation
from nebulastream.sources.base import SourceError

STEP = 300
DAY = 86400
NOW = datetime(2026, 12, 5, 15, 2, 10, tzinfo=UTC)
TODAY = int(datetime(2026, 12, 5, tzinfo=UTC).timestamp())


def cover(coin: str, slots: Iterable[int]) -> Coverage:
    """The Coverage sql.slot_breaks would give for these present slots."""
    ordered = sorted(set(slots))
    rows = [
        (coin, s, n, len(ordered), ordered[0])
        for s, n in zip(ordered, [*ordered[1:], None], strict=True)
        if n is None or n > s + STEP
    ]
    return completeness.coverage_from_rows(rows)[coin]


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


# -- completeness -------------------------------------------------------------------------------


def test_first_day_counts_from_the_first_observation_and_today_up_to_the_last_fetched_slot() -> (
    None
):
    first = TODAY - DAY + 20 * 3600  # yesterday 20:00: 48 slots to midnight
    slots = set(range(first, TODAY + 3 * 3600, STEP)) - {TODAY - STEP, TODAY, TODAY + 600}
    btc = cover("BTC", slots)
    end = completeness.lake_end([btc])

    days = completeness.by_day(btc, end)

    yesterday, today = date(2026, 12, 4), date(2026, 12, 5)
    assert (days[yesterday].expected, days[yesterday].present) == (48, 47)
    assert (days[today].expected, days[today].present) == (36, 34)
    assert days[yesterday].gaps == [(TODAY - STEP, TODAY)]  # a gap across midnight is cut there
    assert days[today].gaps == [(TODAY, TODAY + STEP), (TODAY + 600, TODAY + 900)]
    assert completeness.measure(btc, end).completeness == 81 / 84


def test_a_coin_that_stopped_has_a_trailing_gap_up_to_the_lake_s_last_slot() -> None:
    btc = cover("BTC", range(TODAY, TODAY + 3600, STEP))
    eth = cover("ETH", range(TODAY, TODAY + 2400, STEP))
    end = completeness.lake_end([btc, eth])

    assert completeness.gaps(eth, end) == [(TODAY + 2400, TODAY + 3600)]
    assert completeness.measure(eth, end).completeness == 8 / 12
    assert completeness.measure(btc, end).completeness == 1.0


def test_whole_day_expects_288_slots() -> None:
    btc = cover("BTC", range(TODAY - 2 * DAY, TODAY, STEP))
    days = completeness.by_day(btc, completeness.lake_end([btc]))
    assert [m.expected for m in days.values()] == [288, 288]


# -- planning ----------------------------------------------------------------------------------

CHAINS = heal.Chains(
    recent=("coingecko", "coinbase", "bitstamp"),
    older=("coinbase", "bitstamp"),
    kinds={"coingecko": "history", "coinbase": "candles", "bitstamp": "candles"},
    listed={
        "coingecko": frozenset({"BTC", "ETH"}),
        "coinbase": frozenset({"BTC", "ETH"}),
        "bitstamp": frozenset({"BTC", "ETH"}),
    },
)


def lake_with_outages() -> dict[str, Coverage]:
    """Two days to now's settled edge; BTC down 6 h across yesterday's midnight-ish and 20 min
    an hour ago; ETH complete."""
    end = TODAY + 14 * 3600 + 45 * 60  # the last fetched slot ends 14:45
    everything = set(range(TODAY - 2 * DAY, end, STEP))
    outage_old = set(range(TODAY - DAY + 3 * 3600, TODAY - DAY + 9 * 3600, STEP))  # >24 h ago
    outage_new = set(range(TODAY + 13 * 3600 + 40 * 60, TODAY + 14 * 3600, STEP))  # 4 slots
    return {
        "BTC": cover("BTC", everything - outage_old - outage_new),
        "ETH": cover("ETH", everything),
    }


def test_recent_gaps_go_to_coingecko_in_one_request_per_coin_older_ones_to_candles() -> None:
    pieces = heal.find_pieces(lake_with_outages(), ["BTC", "ETH"], NOW)

    requests = heal.plan(pieces, CHAINS, NOW)

    assert [(r.source, r.coin, r.start, r.end) for r in requests] == [
        ("coingecko", "BTC", at(TODAY + 13 * 3600 + 40 * 60), NOW),
        ("coinbase", "BTC", at(TODAY - DAY + 3 * 3600), at(TODAY - DAY + 9 * 3600)),
    ]


def test_a_gap_is_cut_at_midnight_and_at_the_start_of_the_last_24_hours() -> None:
    recent_from = TODAY - DAY + 15 * 3600 + 5 * 60  # NOW - 24 h, up to the slot grid
    slots = set(range(TODAY - 2 * DAY, TODAY + 14 * 3600, STEP))
    gap = set(range(TODAY - DAY - 3600, TODAY - DAY + 16 * 3600, STEP))
    pieces = heal.find_pieces({"BTC": cover("BTC", slots - gap)}, ["BTC"], NOW)

    assert [(p.start, p.end, p.recent) for p in pieces] == [
        (TODAY - DAY - 3600, TODAY - DAY, False),
        (TODAY - DAY, recent_from, False),
        (recent_from, TODAY - DAY + 16 * 3600, True),
    ]
    requests = heal.plan(pieces, CHAINS, NOW)
    assert [(r.source, r.start.day) for r in requests] == [
        ("coingecko", 4),
        ("coinbase", 3),  # one candle request per coin and UTC day
        ("coinbase", 4),
    ]


def test_older_gaps_follow_the_source_priority() -> None:
    chains = heal.chains(["bitstamp", "coingecko", "coinbase"], lambda name: ["BTC", "ETH"])
    pieces = heal.find_pieces(lake_with_outages(), ["BTC"], NOW)

    assert chains.older == ("bitstamp", "coinbase")
    assert chains.recent == ("coingecko", "bitstamp", "coinbase")
    assert [r.source for r in heal.plan(pieces, chains, NOW)] == ["coingecko", "bitstamp"]


def test_slots_younger_than_the_settling_time_are_left_for_a_later_heal() -> None:
    slots = set(range(TODAY, TODAY + 15 * 3600, STEP)) - {TODAY + 14 * 3600 + 50 * 60}
    pieces = heal.find_pieces({"BTC": cover("BTC", slots)}, ["BTC"], NOW)
    assert pieces == []  # 14:50 is 12 minutes old at 15:02


# -- healing ----------------------------------------------------------------------------------


class World:
    """Sources answering from sets of slots they have; counts the requests."""

    def __init__(self, has: dict[str, set[int]], failing: Iterable[str] = ()) -> None:
        self.has = has
        self.failing = set(failing)
        self.requests: list[tuple[str, str, datetime, datetime]] = []

    def fetch(
        self, name: str, coin: str, start: datetime, end: datetime, fetched_at: datetime
    ) -> list[Observation]:
        self.requests.append((name, coin, start, end))
        if name in self.failing:
            raise SourceError(f"{name} answered HTTP 503 three times")
        lo, hi = int(start.timestamp()), int(end.timestamp())
        return [
            self.point(name, coin, t, fetched_at) for t in sorted(self.has[name]) if lo <= t < hi
        ]

    @staticmethod
    def point(name: str, coin: str, t: int, fetched_at: datetime) -> Observation:
        offset = 17 if name == "coingecko" else 0  # CoinGecko's points sit inside their slot
        return Observation(
            coin=coin,
            source=name,
            price_usd=100.0 + t % 997,
            market_cap_usd=None,
            volume_24h_usd=None,
            change_24h_pct=None,
            observed_at=at(t + offset),
            fetched_at=fetched_at,
            slot=at(t),
            source_payload="{}",
        )


def run_heal(
    lake: LocalLake, coverages: dict[str, Coverage], world: World, *, retry: bool = False
) -> heal.HealResult:
    known = heal.load_unrecoverable(lake)
    pieces = heal.find_pieces(coverages, ["BTC"], NOW, skip=() if retry else known)
    return heal.heal(
        pieces,
        CHAINS,
        lake,
        world.fetch,
        now=NOW,
        known=known,
        coins=["BTC"],
        gaps_before=heal.gap_counts(coverages, ["BTC"], NOW),
    )


def stored_slots(lake: LocalLake) -> dict[int, list[str]]:
    """Slot -> sources of every stored heal observation."""
    found: dict[int, list[str]] = {}
    for key in lake.list("raw/"):
        for line in lake.get(key).splitlines():
            row = json.loads(line)
            ts = int(datetime.fromisoformat(row["observed_at"].replace("Z", "+00:00")).timestamp())
            found.setdefault(ts - ts % STEP, []).append(row["source"])
    return found


def present_after(coverage: Coverage, lake: LocalLake) -> Coverage:
    end = completeness.lake_end([coverage])
    assert end is not None
    missing = {s for a, b in completeness.gaps(coverage, end) for s in range(a, b, STEP)}
    have = set(range(coverage.first_slot, end, STEP)) - missing
    return cover("BTC", have | set(stored_slots(lake)))


def test_empty_slots_fall_back_along_the_chain_and_hopeless_ones_are_recorded_once(
    tmp_path: Path,
) -> None:
    coverages = lake_with_outages()
    old = list(range(TODAY - DAY + 3 * 3600, TODAY - DAY + 9 * 3600, STEP))
    new = list(range(TODAY + 13 * 3600 + 40 * 60, TODAY + 14 * 3600, STEP))
    world = World(
        {
            "coingecko": set(new) - {new[1]},
            "coinbase": set(old) - {old[5], old[6]} | {new[1]},
            "bitstamp": {old[5]},
        }
    )
    lake = LocalLake(tmp_path / "lake")

    result = run_heal(lake, {"BTC": coverages["BTC"]}, world)

    assert [(n, c) for n, c, _, _ in world.requests] == [
        ("coingecko", "BTC"),
        ("coinbase", "BTC"),
        ("coinbase", "BTC"),  # the slot CoinGecko left empty, from candles
        ("bitstamp", "BTC"),  # the two slots Coinbase has no candle for
    ]
    assert (result.planned, result.requests) == (2, 4)
    assert sorted(stored_slots(lake)) == sorted(set(old + new) - {old[6]})
    assert all(len(sources) == 1 for sources in stored_slots(lake).values())
    outcome = result.coins["BTC"]
    assert (outcome.gaps, outcome.missing_before, outcome.filled, outcome.still_missing) == (
        2,
        76,
        75,
        1,
    )
    [given_up] = result.given_up
    assert (given_up.slot, given_up.answers) == (
        old[6],
        {"coinbase": "no data", "bitstamp": "no data"},
    )
    record = json.loads(lake.get(UNRECOVERABLE))
    assert record["slots"]["BTC"][at(old[6]).isoformat().replace("+00:00", ".000Z")] == {
        "recorded_at": "2026-12-05T15:02:10.000Z",
        "answers": {"coinbase": "no data", "bitstamp": "no data"},
    }

    world.requests.clear()
    again = run_heal(lake, {"BTC": present_after(coverages["BTC"], lake)}, world)

    assert world.requests == []  # the recorded slot is not asked for again
    assert again.given_up == [] and again.coins["BTC"].still_missing == 1
    assert "recorded unrecoverable before" in next(iter(again.coins["BTC"].reasons))

    world.has["bitstamp"].add(old[6])  # a late candle: --retry-unrecoverable finds it
    retried = run_heal(lake, {"BTC": present_after(coverages["BTC"], lake)}, world, retry=True)
    assert retried.coins["BTC"].filled == 1
    assert json.loads(lake.get(UNRECOVERABLE))["slots"] == {}


def test_a_failing_source_is_not_a_reason_to_give_up(tmp_path: Path) -> None:
    coverages = lake_with_outages()
    world = World({"coingecko": set(), "coinbase": set(), "bitstamp": set()}, failing={"coinbase"})
    lake = LocalLake(tmp_path / "lake")

    result = run_heal(lake, {"BTC": coverages["BTC"]}, world)

    old_slots = 72
    assert result.coins["BTC"].reasons["coinbase failed; the next heal asks again"] == old_slots + 4
    assert result.given_up == [] and not lake.exists(UNRECOVERABLE)
    assert result.errors and "503" in result.errors[0]


@given(
    gaps=st.lists(
        st.tuples(st.integers(1, 2 * 288 - 2), st.integers(1, 40)), min_size=0, max_size=6
    ),
    holes=st.sets(st.integers(0, 2 * 288), max_size=20),
)
def test_heal_twice_is_heal_once(gaps: list[tuple[int, int]], holes: set[int]) -> None:
    """Over generated gap sequences (and slots no source has): the second heal asks nothing
    and leaves the lake exactly as the first one did."""
    import tempfile

    first = TODAY - 2 * DAY
    end = TODAY + 14 * 3600
    missing = {first + (i + k) * STEP for i, n in gaps for k in range(n)} & set(
        range(first + STEP, end, STEP)
    )
    have = set(range(first, end, STEP)) - missing
    served = set(range(first, end, STEP)) - {first + h * STEP for h in holes}
    world = World({"coingecko": served, "coinbase": served, "bitstamp": set()})
    with tempfile.TemporaryDirectory() as folder:
        lake = LocalLake(Path(folder))
        coverage = cover("BTC", have)
        run_heal(lake, {"BTC": coverage}, world)
        after_once = {k: lake.get(k) for k in lake.list("")}
        world.requests.clear()

        second = run_heal(lake, {"BTC": present_after(coverage, lake)}, world)

        assert world.requests == [] and second.batches == {}
        assert {k: lake.get(k) for k in lake.list("")} == after_once
        assert set(stored_slots(lake)) | have == (have | missing) & (served | have)


def test_last_window_is_the_slots_of_the_last_day() -> None:
    lo, hi = completeness.last(1, NOW)
    assert (at(lo), at(hi)) == (datetime(2026, 12, 4, 15, 0, tzinfo=UTC), at(TODAY + 15 * 3600))


def test_two_points_in_one_slot_store_one_observation_the_first(tmp_path: Path) -> None:
    coverages = lake_with_outages()
    new = list(range(TODAY + 13 * 3600 + 40 * 60, TODAY + 14 * 3600, STEP))

    class Twice(World):
        def fetch(
            self, name: str, coin: str, start: datetime, end: datetime, fetched_at: datetime
        ) -> list[Observation]:
            found = super().fetch(name, coin, start, end, fetched_at)
            later = [World.point(name, coin, t + 200, fetched_at) for t in new]
            return sorted(found + later, key=lambda o: o.observed_at or NOW)

    world = Twice({"coingecko": set(new), "coinbase": set(), "bitstamp": set()})
    lake = LocalLake(tmp_path / "lake")

    heal.heal(
        [p for p in heal.find_pieces(coverages, ["BTC"], NOW) if p.recent],
        CHAINS,
        lake,
        world.fetch,
        now=NOW,
        known={},
        coins=["BTC"],
    )

    rows = [json.loads(line) for key in lake.list("raw/") for line in lake.get(key).splitlines()]
    assert [r["observed_at"][11:19] for r in rows] == [
        "13:40:17",
        "13:45:17",
        "13:50:17",
        "13:55:17",
    ]
