"""A scheduler that runs for months keeps nothing per run once the run has ended.

Counted with the garbage collector (live objects of the classes that make up a run), never with
memory totals: after 10 and after 40 releases through one scheduler the counts are the same.
"""

from __future__ import annotations

import gc
import os
import re
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from runwright.audit import make_audit_backend
from runwright.engine.context import CancelScope, RunState
from runwright.schedule.clock import SimulatedClock
from runwright.schedule.release import ReleaseOutcome
from runwright.schedule.scheduler import Scheduler
from runwright.trace import RunTrace

T0 = datetime(2026, 3, 2, 9, 0, 30, tzinfo=UTC)
#: Two jobs, one of them a matrix (job scope, strategy group, one scope per strategy), a
#: ``catch:`` that runs (its own scope), and a follower released by ``on: release``.
CONF = """
every-minute:
  type: Workflow
  on: [{cronjob: "* * * * *", timezone: UTC}]
  jobs:
    first:
      stages:
        - {id: hello, echo: hello}
    second:
      needs: [first]
      strategy: {matrix: {n: [1, 2]}}
      stages:
        - {id: fails, raise: "n=${{ matrix.n }}"}
      catch:
        - {id: handled, echo: handled}

follower:
  type: Workflow
  on: {release: [every-minute]}
  jobs:
    only:
      stages:
        - {id: after, echo: after}
"""
PER_RUN = (CancelScope, RunState, RunTrace)
MARKS = (10, 40)


def live_per_run_objects() -> dict[str, int]:
    """How many objects of each per-run class are alive now."""
    gc.collect()
    counts = {kind.__name__: 0 for kind in PER_RUN}
    for thing in gc.get_objects():
        for kind in PER_RUN:
            if isinstance(thing, kind):
                counts[kind.__name__] += 1
    return counts


def counts_at_marks(
    scheduler: Scheduler, listeners: list[Callable[[ReleaseOutcome], None]]
) -> dict[int, dict[str, int]]:
    """Run ``scheduler`` until stopped; count live per-run objects after each of :data:`MARKS`
    releases (counted from the listener, on the release's own thread, once it has ended)."""
    seen: list[ReleaseOutcome] = []
    counts: dict[int, dict[str, int]] = {}

    def count(outcome: ReleaseOutcome) -> None:
        if outcome.workflow != "every-minute":
            return
        seen.append(outcome)
        if len(seen) in MARKS:
            counts[len(seen)] = live_per_run_objects()
        if len(seen) == MARKS[-1]:
            scheduler.stop()

    listeners.append(count)
    scheduler.run()
    assert len(seen) >= MARKS[-1] and all(o.status == "SUCCESS" for o in seen)
    return counts


@pytest.mark.parametrize("store", ["sqlite", "file"])
def test_a_scheduler_keeps_no_run_after_it_ended(conf, tmp_path: Path, store: str) -> None:
    url = f"sqlite:///{tmp_path / 'audit.db'}" if store == "sqlite" else f"file://{tmp_path / 'audits'}"
    scheduler = Scheduler(conf(CONF), audit=make_audit_backend(url), clock=SimulatedClock(T0), max_workers=1)
    counts = counts_at_marks(scheduler, scheduler.outcome_listeners)
    assert counts[MARKS[-1]] == counts[MARKS[0]]
    followers = [r for r in scheduler.audit.list(workflow="follower") if r.status.value == "SUCCESS"]
    assert len(followers) >= MARKS[-1] - 1  # the followers ran too (and are counted above)


def test_the_engine_interns_no_per_run_name(conf, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On Python 3.12.0-3.12.4 an interned string lives as long as the interpreter, and
    ``pathlib`` interns every part of a path it parses: a trace file name made a ``Path`` once
    per run was kept for ever. (The file audit store's per-run paths are left to pathlib: see
    docs/benchmarks.md.)"""
    interned: list[str] = []
    real_intern = sys.intern

    def recording_intern(text: str) -> str:
        interned.append(text)
        return real_intern(text)

    monkeypatch.setattr(sys, "intern", recording_intern)
    scheduler = Scheduler(
        conf(CONF),
        audit=make_audit_backend(f"sqlite:///{tmp_path / 'audit.db'}"),
        clock=SimulatedClock(T0),
        max_workers=1,
    )
    outcomes = scheduler.run(until=T0.replace(minute=3))
    run_ids = {o.run_id for o in outcomes if o.run_id}
    assert run_ids
    assert [text for text in interned if any(run_id in text for run_id in run_ids)] == []


def read_line_before_exit(process: subprocess.Popen[bytes], seconds: float) -> bytes:
    """The first line the process writes to its stdout pipe, read while it runs (bounded)."""
    assert process.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + seconds
    data = b""
    try:
        while b"\n" not in data and time.monotonic() < deadline and process.poll() is None:
            if selector.select(timeout=0.2):
                chunk = os.read(process.stdout.fileno(), 4096)
                if not chunk:
                    break
                data += chunk
    finally:
        selector.close()
    return data


def test_the_scheduler_writes_each_release_to_a_pipe_as_it_happens(conf, tmp_path: Path) -> None:
    folder = conf(CONF)
    env = {**os.environ, "RUNWRIGHT_AUDIT_URL": f"sqlite:///{tmp_path / 'audit.db'}"}
    process = subprocess.Popen(  # no --until: it runs until it is stopped
        [
            sys.executable,
            "-m",
            "runwright",
            "scheduler",
            "--conf",
            str(folder),
            "--simulate-from",
            T0.isoformat(),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        data = read_line_before_exit(process, 60.0)
        still_running = process.poll() is None
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        assert process.stdout is not None
        process.stdout.close()
    assert still_running
    first = data.split(b"\n", 1)[0].decode()
    assert re.fullmatch(  # stamped like the stderr log lines
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO "
        r"(every-minute|follower) @ 2026-03-02T09:\d\d:00\+00:00: SUCCESS \(run \S+, attempt 1\)",
        first,
    )


def test_the_next_tick_cache_keeps_one_tick_per_cron_entry() -> None:
    """Thousands of workflows on one cron line share a tick's computation, but ticks that
    passed are not kept: a minutely entry would have added one cached tick a minute."""
    from runwright.models.events import CronEvent
    from runwright.schedule import cron

    minutely = CronEvent.model_validate({"cronjob": "* * * * *"})
    hourly = CronEvent.model_validate({"cronjob": "0 * * * *", "timezone": "Europe/Paris"})
    before = len(cron._LATEST_TICKS)
    assert len(cron.ticks_between(minutely, T0, T0.replace(day=9))) == 7 * 24 * 60
    assert len(cron.ticks_between(hourly, T0, T0.replace(day=9))) == 7 * 24
    assert len(cron._LATEST_TICKS) <= before + 2


ENDINGS = """
endings:
  type: Workflow
  params: {how: str}
  jobs:
    work:
      timeout-minutes: 0.01
      strategy: {matrix: {n: [1, 2]}}
      stages:
        - {id: fails, if: "${{ params.how == 'failure' }}", raise: "asked to fail"}
        - {id: stuck, if: "${{ params.how == 'timeout' }}", run: "while True: pass"}
        - id: loop
          foreach: [1, 2, 3]
          stages: [{id: each, echo: "${{ item }}"}]
    after:
      needs: [work]
      trigger-rule: all_done
      stages: [{id: done, echo: done}]
"""


def test_every_ending_of_a_run_releases_its_scopes(workflow_from) -> None:
    """Success, failure, timeout and cancel: a long-lived scope (a scheduler's, a server's)
    holds none of the scopes a run made once it has ended."""
    workflow = workflow_from(ENDINGS)
    lifetime = CancelScope()
    statuses = []
    for how in ("success", "failure", "timeout", "success", "failure", "timeout"):
        statuses.append(workflow.execute({"how": how}, scope=lifetime).status.value)
        assert live_per_run_objects()["CancelScope"] == 1, how
    lifetime.cancel("stopping")
    statuses.append(workflow.execute({"how": "success"}, scope=lifetime).status.value)
    assert live_per_run_objects()["CancelScope"] == 1
    assert statuses == ["SUCCESS", "FAILED", "FAILED", "SUCCESS", "FAILED", "FAILED", "CANCEL"]
