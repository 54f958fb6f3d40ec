"""`nebula run`'s schedule: periodic jobs on fixed grids of UTC slots, one loop running them.

The loop reports through callbacks (a job failed, what runs next and when), so the core never
imports the CLI's console; the clock and the wait are parameters, so tests run it instantly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from nebulastream.timeutil import floor_to, next_slot, utcnow


@dataclass
class PeriodicJob:
    """Something done on a fixed grid of UTC slots (every `seconds`), first at once."""

    name: str
    seconds: int
    action: Callable[[datetime], None]  # called with its slot
    due: datetime | None = None  # None: run at once

    def run_if_due(self, now: datetime) -> None:
        """Run for the slot holding `now` if due; the next slot is due even if this run raised."""
        if self.due is not None and now < self.due:
            return
        slot = floor_to(now, self.seconds)
        try:
            self.action(slot)
        finally:
            self.due = next_slot(now, self.seconds)


OnFailure = Callable[[PeriodicJob, Exception], None]
OnNext = Callable[[list[PeriodicJob], datetime], None]


def run_jobs(
    jobs: list[PeriodicJob],
    wait: Callable[[float], bool],
    *,
    on_failure: OnFailure,
    on_next: OnNext = lambda jobs, due: None,
    clock: Callable[[], datetime] = utcnow,
) -> None:
    """Run each job when due, in list order, until `wait` returns True (stop was asked for).

    A job that raises is reported to `on_failure` and tried again at its next slot: one job's
    failure never stops the others. `on_next` hears which jobs run next and when; `wait(s)`
    sleeps up to s seconds and says whether to stop (threading.Event.wait fits).
    """
    while True:
        for job in jobs:
            try:
                job.run_if_due(clock())
            except Exception as error:  # the loop outlives any one run
                on_failure(job, error)
        due = min(job.due for job in jobs if job.due is not None)
        on_next([job for job in jobs if job.due == due], due)
        if wait(max(0.0, (due - clock()).total_seconds())):
            return
