"""A server that runs for months keeps nothing per run once the run has ended: runs triggered
through ``RunService`` and runs its in-process scheduler released (counted with the garbage
collector, never with memory totals)."""

from __future__ import annotations

import gc
import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from runwright.audit import make_audit_backend
from runwright.schedule.clock import SimulatedClock
from runwright_api.service import RunService

from tests.test_memory_per_run import live_per_run_objects

T0 = datetime(2026, 3, 2, 9, 0, 30, tzinfo=UTC)
CONF = """
every-minute:
  type: Workflow
  on: [{cronjob: "* * * * *", timezone: UTC}]
  params: {n: {type: int, default: 0}}
  jobs:
    first:
      stages:
        - {id: hello, echo: "hello ${{ params.n }}"}
    second:
      needs: [first]
      strategy: {matrix: {n: [1, 2]}}
      stages:
        - {id: each, echo: "${{ matrix.n }}"}
"""


def service_for(tmp_path: Path, name: str) -> RunService:
    folder = tmp_path / name / "conf"
    folder.mkdir(parents=True)
    (folder / "flows.yml").write_text(CONF, encoding="utf-8")
    return RunService(folder, audit=make_audit_backend(f"sqlite:///{tmp_path / name / 'audit.db'}"))


def wait_until_idle(service: RunService, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while service.active and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not service.active


def live_store_connections() -> int:
    gc.collect()
    return sum(1 for thing in gc.get_objects() if isinstance(thing, sqlite3.Connection))


def trigger_here(service: RunService, n: int) -> None:
    service.trigger("every-minute", {"n": n})


def trigger_from_a_passing_thread(service: RunService, n: int) -> None:
    """As the HTTP layer does: anyio's request threads end after 10 s idle and are replaced, and
    each thread's store connection must go with it (it was kept for good)."""
    caller = threading.Thread(target=trigger_here, args=(service, n))
    caller.start()
    caller.join(30)


@pytest.mark.parametrize("trigger", [trigger_here, trigger_from_a_passing_thread])
def test_triggered_runs_leave_nothing_behind(
    tmp_path: Path, trigger: Callable[[RunService, int], None]
) -> None:
    service = service_for(tmp_path, "triggered")
    counts = {}
    try:
        for n in range(1, 41):
            trigger(service, n)
            wait_until_idle(service)
            if n in (10, 40):
                counts[n] = {**live_per_run_objects(), "sqlite3.Connection": live_store_connections()}
    finally:
        service.shutdown(1)
    assert counts[40] == counts[10]
    assert service.metrics.by_status == {"SUCCESS": 40}


def scheduled_runs(tmp_path: Path, releases: int) -> dict[str, int]:
    """Live per-run objects once the server's scheduler made ``releases`` releases and stopped."""
    service = service_for(tmp_path, f"scheduled-{releases}")
    enough = threading.Event()
    ended: list[str] = []

    def count(outcome) -> None:
        ended.append(outcome.status)
        if len(ended) >= releases:
            enough.set()

    service.start_scheduler(clock=SimulatedClock(T0))
    service.scheduler.outcome_listeners.append(count)
    assert enough.wait(120)
    service.shutdown(5)
    assert set(ended) == {"SUCCESS"}
    return live_per_run_objects()  # the service (and its scheduler) still alive


def test_runs_of_the_in_process_scheduler_leave_nothing_behind(tmp_path: Path) -> None:
    assert scheduled_runs(tmp_path, 40) == scheduled_runs(tmp_path, 10)
