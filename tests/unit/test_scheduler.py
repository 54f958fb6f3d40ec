"""nebulastream.scheduler: jobs on their slot grids, a loop that outlives failures, callbacks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nebulastream.scheduler import PeriodicJob, run_jobs
from tests.lake_fixtures import utc


class FakeClock:
    """The loop's clock and wait: waiting moves time forward; stops after `waits` waits."""

    def __init__(self, start: datetime, waits: int) -> None:
        self.now = start
        self.waits_left = waits
        self.waited: list[float] = []

    def __call__(self) -> datetime:
        return self.now

    def wait(self, seconds: float) -> bool:
        self.waited.append(seconds)
        self.now += timedelta(seconds=seconds)
        self.waits_left -= 1
        return self.waits_left <= 0


def test_a_periodic_job_runs_at_once_then_on_its_slot_grid_even_after_failing() -> None:
    slots: list[datetime] = []

    def flaky(slot: datetime) -> None:
        slots.append(slot)
        raise RuntimeError("source down")

    job = PeriodicJob("fetch", 300, flaky)
    with pytest.raises(RuntimeError):
        job.run_if_due(utc("2026-11-28T04:06:10Z"))
    assert slots == [utc("2026-11-28T04:05:00Z")]
    assert job.due == utc("2026-11-28T04:10:00Z")
    job.run_if_due(utc("2026-11-28T04:09:59Z"))
    assert len(slots) == 1
    with pytest.raises(RuntimeError):
        job.run_if_due(utc("2026-11-28T04:10:00.5Z"))
    assert slots[-1] == utc("2026-11-28T04:10:00Z")


def test_the_loop_runs_jobs_in_order_on_their_grids_and_reports_what_is_next() -> None:
    clock = FakeClock(utc("2026-11-28T04:06:10Z"), waits=3)
    ran: list[tuple[str, datetime]] = []
    upcoming: list[tuple[list[str], datetime]] = []
    jobs = [
        PeriodicJob("fetch", 300, lambda slot: ran.append(("fetch", slot))),
        PeriodicJob("transform", 600, lambda slot: ran.append(("transform", slot))),
    ]
    run_jobs(
        jobs,
        clock.wait,
        on_failure=lambda job, error: pytest.fail(f"{job.name}: {error}"),
        on_next=lambda due_jobs, due: upcoming.append(([j.name for j in due_jobs], due)),
        clock=clock,
    )
    assert ran == [
        ("fetch", utc("2026-11-28T04:05:00Z")),
        ("transform", utc("2026-11-28T04:00:00Z")),
        ("fetch", utc("2026-11-28T04:10:00Z")),
        ("transform", utc("2026-11-28T04:10:00Z")),
        ("fetch", utc("2026-11-28T04:15:00Z")),
    ]
    assert upcoming == [
        (["fetch", "transform"], utc("2026-11-28T04:10:00Z")),
        (["fetch"], utc("2026-11-28T04:15:00Z")),
        (["fetch", "transform"], utc("2026-11-28T04:20:00Z")),
    ]
    assert clock.waited == [230.0, 300.0, 300.0]


def test_the_loop_outlives_a_job_that_fails_and_reports_it() -> None:
    clock = FakeClock(utc("2026-11-28T04:06:10Z"), waits=2)
    failures: list[tuple[str, str]] = []
    ran: list[str] = []

    def broken(slot: datetime) -> None:
        ran.append("broken")
        raise ZeroDivisionError("a bug, not an upstream fault")

    jobs = [
        PeriodicJob("fetch", 300, broken),
        PeriodicJob("transform", 300, lambda s: ran.append("ok")),
    ]
    run_jobs(
        jobs,
        clock.wait,
        on_failure=lambda job, error: failures.append((job.name, type(error).__name__)),
        clock=clock,
    )
    assert ran == ["broken", "ok", "broken", "ok"]
    assert failures == [("fetch", "ZeroDivisionError")] * 2


def test_stopping_ends_the_loop_after_the_first_round() -> None:
    ran: list[str] = []
    run_jobs(
        [PeriodicJob("fetch", 300, lambda slot: ran.append("fetch"))],
        lambda seconds: True,
        on_failure=lambda job, error: None,
    )
    assert ran == ["fetch"]


@given(
    st.datetimes(min_value=datetime(2009, 1, 3), max_value=datetime(9000, 1, 1)),
    st.sampled_from([60, 300, 900, 3600, 86400]),
)
def test_a_job_runs_for_the_slot_holding_now_and_is_next_due_one_slot_later(
    moment: datetime, seconds: int
) -> None:
    now = moment.replace(tzinfo=UTC)
    slots: list[datetime] = []
    job = PeriodicJob("fetch", seconds, slots.append)
    job.run_if_due(now)
    [slot] = slots
    assert slot <= now < slot + timedelta(seconds=seconds)
    assert int(slot.timestamp()) % seconds == 0
    assert job.due == slot + timedelta(seconds=seconds)
