"""A server that runs for months keeps nothing per run once the run has ended: runs triggered
through ``RunService`` and runs its in-process scheduler released (counted with the garbage
collector, never with memory totals)."""

from __future__ import annotations

import gc
import sqlite3
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

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


def test_triggered_runs_leave_nothing_behind(tmp_path: Path) -> None:
    service = service_for(tmp_path, "triggered")
    counts = {}
    try:
        for n in range(1, 41):
            service.trigger("every-minute", {"n": n})
            wait_until_idle(service)
            if n in (10, 40):
                counts[n] = live_per_run_objects()
    finally:
        service.shutdown(1)
    assert counts[40] == counts[10]
    assert service.metrics.by_status == {"SUCCESS": 40}


def live_store_connections() -> int:
    gc.collect()
    return sum(1 for thing in gc.get_objects() if isinstance(thing, sqlite3.Connection))


def test_runs_triggered_from_passing_threads_leave_no_connections_behind(tmp_path: Path) -> None:
    """The HTTP layer calls ``trigger`` from anyio's request threads, which end after 10 s idle and
    are replaced: each thread's store connection goes with it (was: kept for good)."""
    service = service_for(tmp_path, "threads")
    counts = {}
    try:
        for n in range(1, 41):
            caller = threading.Thread(target=service.trigger, args=("every-minute", {"n": n}))
            caller.start()
            caller.join(30)
            wait_until_idle(service)
            if n in (10, 40):
                counts[n] = live_store_connections()
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
