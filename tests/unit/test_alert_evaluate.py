"""Edge-triggered evaluation on tiny histories: crossings, hysteresis, cooldown, stale."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from nebulastream.alerts.evaluate import AlertState, Firing, Reading, evaluate
from nebulastream.alerts.rules import Rule

T0 = datetime(2026, 11, 28, 4, 0, tzinfo=UTC)
STEP = timedelta(minutes=5)


def rule(**fields: object) -> Rule:
    return Rule.model_validate({"name": "r", "coin": "BTC", **fields})


def run(
    r: Rule,
    values: Sequence[float | None],
    *,
    twice: bool = False,
    state: AlertState | None = None,
) -> tuple[list[Firing], AlertState]:
    """Evaluate one reading per 5-minute fetch (twice each when asked); all firings."""
    state = state or AlertState()
    fired: list[Firing] = []
    for i, value in enumerate(values):
        now = T0 + i * STEP
        reading = None if value is None else Reading(value, now - timedelta(seconds=20))
        for _ in range(2 if twice else 1):
            outcome = evaluate(
                [r], state, {r.name: reading}, now + timedelta(seconds=30), {r.name: ["console"]}
            )
            state = outcome.state
            fired += outcome.firings
    return fired, state


def change(move: float, price: float = 100.0) -> Reading:
    return Reading(price, T0, move, price / (1 + move / 100))


def test_above_fires_once_when_crossed_not_while_it_stays_above() -> None:
    fired, state = run(rule(above=100), [99, 101, 102, 150, 101])
    assert [(f.value, f.threshold, f.kind.value) for f in fired] == [(101, 100, "above")]
    assert state.rules["r"].status == "firing"
    assert fired[0].ts == T0 + STEP - timedelta(seconds=20)  # the observation's time
    assert fired[0].id == "r-20261128T040440000Z"


def test_hysteresis_a_price_hovering_at_the_line_fires_once() -> None:
    # 0.5 % of 100: re-arms only below 99.5.
    fired, _ = run(rule(above=100, cooldown=0), [101, 99.9, 100.1, 99.6, 100.2])
    assert len(fired) == 1


def test_rearmed_after_clearly_false_it_fires_again_after_the_cooldown() -> None:
    fired, _ = run(rule(above=100, cooldown="12m"), [101, 99, 101, 101, 99, 99, 101])
    # fetch 2 (t=10m) re-crosses inside the 12-minute cooldown: it waits armed and fires at
    # fetch 3 (t=15m) since the price is still above; fetch 6 (t=30m) crosses again.
    assert [f.fired_at - T0 for f in fired] == [
        timedelta(seconds=30),
        timedelta(minutes=15, seconds=30),
        timedelta(minutes=30, seconds=30),
    ]


def test_a_crossing_inside_the_cooldown_that_falls_back_never_fires() -> None:
    fired, _ = run(rule(above=100, cooldown="1h"), [101, 99, 101, 99, 98])
    assert len(fired) == 1


def test_below_mirrors_above() -> None:
    fired, _ = run(rule(below=50, cooldown=0), [51, 49, 48, 50.1, 50.3, 49])
    assert [f.value for f in fired] == [49, 49]  # 50.1 is inside the band; 50.3 re-arms


def test_change_fires_on_a_move_either_way() -> None:
    r = rule(change_pct=5, within="1h", cooldown=0)
    state = AlertState()
    fired = []
    for i, reading in enumerate([change(1), change(-5.2), change(-6), change(2), change(5)]):
        outcome = evaluate([r], state, {"r": reading}, T0 + i * STEP, {"r": ["console"]})
        state, fired = outcome.state, fired + outcome.firings
    assert [f.move_pct for f in fired] == [-5.2, 5]
    assert fired[0].reference is not None and fired[0].value == 100.0


def test_stale_fires_when_the_newest_observation_gets_old_and_rearms_on_fresh_data() -> None:
    r = rule(stale_for="15m", cooldown=0)
    newest = Reading(1.0, T0)
    state = AlertState()
    fired = []
    for minutes in (5, 10, 14, 15, 20, 25):
        outcome = evaluate(
            [r], state, {"r": newest}, T0 + timedelta(minutes=minutes), {"r": ["webhook"]}
        )
        state, fired = outcome.state, fired + outcome.firings
    assert [(f.value, f.threshold, f.channels) for f in fired] == [(900.0, 900.0, ["webhook"])]
    fresh = evaluate(
        [r],
        state,
        {"r": Reading(1.0, T0 + timedelta(minutes=30))},
        T0 + timedelta(minutes=31),
        {"r": ["webhook"]},
    )
    assert fresh.state.rules["r"].status == "armed" and not fresh.firings


def test_no_data_keeps_the_state_and_fires_nothing() -> None:
    fired, state = run(rule(stale_for="15m"), [None, None])
    assert fired == [] and state.rules["r"].status == "armed"


def test_an_edited_rule_starts_armed_again() -> None:
    _, state = run(rule(above=100), [101])
    fired, _ = run(rule(above=90), [101], state=state)
    assert len(fired) == 1


prices = st.lists(
    st.one_of(st.none(), st.floats(min_value=90, max_value=110, allow_nan=False)),
    min_size=1,
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(
    values=prices,
    kind=st.sampled_from(["above", "below"]),
    cooldown=st.sampled_from([0, 300, 900, 3600]),
    hysteresis=st.sampled_from([0, 0.5, 2]),
)
def test_property_every_fetch_evaluated_twice_fires_exactly_what_once_fires(
    values: list[float | None], kind: str, cooldown: int, hysteresis: float
) -> None:
    r = rule(**{kind: 100}, cooldown=cooldown, hysteresis_pct=hysteresis)
    once, _ = run(r, values)
    twice, _ = run(r, values, twice=True)
    assert [f.id for f in twice] == [f.id for f in once]
    assert len({f.id for f in once}) == len(once)
    times = [f.fired_at for f in once]
    assert all(b - a >= timedelta(seconds=cooldown) for a, b in itertools.pairwise(times))
    # Edge-triggered: between two firings the condition was clearly false at least once.
    for a, b in itertools.pairwise(once):
        between = [
            v
            for i, v in enumerate(values)
            if v is not None and a.fired_at < T0 + i * STEP + timedelta(seconds=30) < b.fired_at
        ]
        band = hysteresis / 100
        clear = [v < 100 * (1 - band) if kind == "above" else v > 100 * (1 + band) for v in between]
        assert any(clear)


def evaluations(r: Rule, readings: Sequence[Reading | None], *, twice: bool) -> list[Firing]:
    """One evaluation per 5-minute fetch at T0 + i*5m + 30s (twice each when asked)."""
    state, fired = AlertState(), []
    for i, reading in enumerate(readings):
        for _ in range(2 if twice else 1):
            now = T0 + i * STEP + timedelta(seconds=30)
            outcome = evaluate([r], state, {r.name: reading}, now, {r.name: ["console"]})
            state, fired = outcome.state, fired + outcome.firings
    return fired


@settings(max_examples=200, deadline=None)
@given(
    moves=st.lists(st.floats(min_value=-10, max_value=10, allow_nan=False), max_size=40),
    cooldown=st.sampled_from([0, 600, 3600]),
)
def test_property_change_fires_the_same_when_every_fetch_is_evaluated_twice(
    moves: list[float], cooldown: int
) -> None:
    r = rule(change_pct=5, within="1h", cooldown=cooldown)
    readings = [
        Reading(100.0, T0 + i * STEP, move, 100 / (1 + move / 100)) for i, move in enumerate(moves)
    ]
    once = evaluations(r, readings, twice=False)
    assert [f.id for f in evaluations(r, readings, twice=True)] == [f.id for f in once]
    assert all(abs(f.move_pct or 0) >= 5 for f in once)
    times = [f.fired_at for f in once]
    assert all(b - a >= timedelta(seconds=cooldown) for a, b in itertools.pairwise(times))


@settings(max_examples=200, deadline=None)
@given(
    fetched=st.lists(st.booleans(), max_size=40),
    stale_for=st.sampled_from([600, 900, 1800]),
)
def test_property_stale_fires_once_per_outage_long_enough(
    fetched: list[bool], stale_for: int
) -> None:
    """Each run of failed fetches fires once if the newest observation got old enough in it."""
    r = rule(stale_for=stale_for, cooldown=0)
    readings: list[Reading | None] = []
    newest: datetime | None = None
    for i, ok in enumerate(fetched):
        if ok:
            newest = T0 + i * STEP + timedelta(seconds=10)
        readings.append(None if newest is None else Reading(1.0, newest))
    once = evaluations(r, readings, twice=False)
    assert [f.id for f in evaluations(r, readings, twice=True)] == [f.id for f in once]
    expected, run, seen = 0, 0, False
    for ok in [*fetched, True]:  # a final success closes the last outage
        if ok:
            # ages in an outage of `run` fetches after a success: m * 300 + 20 s, m = 1..run
            expected += seen and run > 0 and run * 300 + 20 >= stale_for
            run, seen = 0, True
        else:
            run += 1
    assert len(once) == expected
