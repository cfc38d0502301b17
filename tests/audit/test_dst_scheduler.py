"""The scheduler over a clocks-back night, against each store: every tick of the repeated
hour runs once and is recorded SUCCESS (none left RUNNING for a later retry-crashed)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from runwright.audit import AuditBackend, ReleaseStatus
from runwright.schedule.clock import SimulatedClock
from runwright.schedule.release import ReleaseOutcome
from runwright.schedule.scheduler import Scheduler

NEW_YORK = """
new-york:
  type: Workflow
  on: [{cronjob: "*/10 * * * *", timezone: America/New_York, retry-crashed: true}]
  jobs: {j: {stages: [{id: s, echo: "tick"}]}}
"""
START = datetime(2025, 11, 2, 4, 55, tzinfo=UTC)  # 00:55 EDT; 01:00-01:59 then happens twice
END = datetime(2025, 11, 2, 7, 5, tzinfo=UTC)
NIGHT_SECONDS = 60
"""The simulated night takes a second or two; a scheduler still running after this is hung."""


def run_night(scheduler: Scheduler, until: datetime) -> list[ReleaseOutcome]:
    """``scheduler.run(until)`` in a thread, bounded: a hang fails fast with a message (and the
    scheduler is stopped) instead of waiting for pytest-timeout."""
    outcomes: list[ReleaseOutcome] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            outcomes.extend(scheduler.run(until=until))
        except BaseException as exc:  # re-raised in the test's thread
            failure.append(exc)

    thread = threading.Thread(target=run, name="dst-scheduler", daemon=True)
    thread.start()
    thread.join(NIGHT_SECONDS)
    if thread.is_alive():
        scheduler.stop()
        thread.join(10)
        pytest.fail(f"the scheduler did not finish the simulated DST night within {NIGHT_SECONDS} s")
    if failure:
        raise failure[0]
    return outcomes


def test_scheduler_records_every_tick_of_a_repeated_hour(
    audit_url: str,
    conf: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
    open_backend: Callable[[str], AuditBackend],
) -> None:
    monkeypatch.setenv("RUNWRIGHT_AUDIT_URL", audit_url)
    folder = conf(NEW_YORK)
    outcomes = run_night(Scheduler(folder, clock=SimulatedClock(START)), END)
    assert [o.status for o in outcomes if o.ran] == ["SUCCESS"] * 13

    backend = open_backend(audit_url)
    records = backend.list(workflow="new-york")
    expected = [START + timedelta(minutes=5 + 10 * n) for n in range(13)]
    assert sorted(r.release for r in records) == expected
    assert {r.status for r in records} == {ReleaseStatus.SUCCESS}
    assert backend.list(status=ReleaseStatus.RUNNING) == []

    # a later scheduler finds nothing to re-run
    later = Scheduler(folder, clock=SimulatedClock(END + timedelta(seconds=1)))
    assert later.recover() == []
    assert len(backend.list(workflow="new-york")) == 13


TWO_CLOCKS = """
every-ten:
  type: Workflow
  on: [{cronjob: "*/10 * * * *", timezone: America/New_York}]
  jobs: {j: {stages: [{id: s, echo: "tick"}]}}
every-fifteen:
  type: Workflow
  on: [{cronjob: "*/15 * * * *", timezone: America/New_York}]
  jobs: {j: {stages: [{id: s, echo: "tick"}]}}
"""


def test_due_ticks_of_one_zone_are_ordered_by_instant_across_the_fold(conf: Callable[..., Path]) -> None:
    """At 01:50 EDT every-ten is due; every-fifteen's next tick is 01:00 EST, ten minutes
    later, though its wall time is earlier. It must not hold every-ten back."""
    scheduler = Scheduler(conf(TWO_CLOCKS), clock=SimulatedClock(datetime(2025, 11, 2, 5, 46, tzinfo=UTC)))
    scheduler.load()
    assert scheduler.next_wake() == datetime(2025, 11, 2, 5, 50, tzinfo=UTC)
    due = scheduler.due(datetime(2025, 11, 2, 5, 50, tzinfo=UTC))
    assert [(entry.workflow, tick.astimezone(UTC).strftime("%H:%M")) for entry, tick in due] == [
        ("every-ten", "05:50")
    ]
    assert scheduler.next_wake() == datetime(2025, 11, 2, 6, 0, tzinfo=UTC)
