"""Param values from outside a template (command line, API, audit store) are data: a
``${{ }}`` in them is never evaluated. Schedule params render off the scheduler loop."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta

from runwright.audit import ReleaseRecord, ReleaseStatus, make_audit_backend
from runwright.config import Settings
from runwright.plugins import get_plugin_manager
from runwright.runtime import Runtime
from runwright.schedule.clock import SimulatedClock
from runwright.schedule.scheduler import Scheduler

from tests.conftest import run_cli

T0 = datetime(2024, 1, 1, tzinfo=UTC)
HOSTILE = "${{ 7*7 }}"

HOURLY = """
hourly:
  type: Workflow
  on: [{cronjob: "0 * * * *", retry-crashed: true}]
  params: {x: {type: str, default: none}}
  jobs:
    j:
      stages:
        - id: show
          run: "seen = ${{ params.x }}"
"""


def seen_values(workflow: str) -> list[str]:
    records = make_audit_backend().list(workflow=workflow)
    return [r.context["jobs"]["j"]["stages"]["show"]["outputs"]["seen"] for r in records if r.context]


def test_backfill_param_from_the_command_line_is_data(conf) -> None:
    folder = conf(HOURLY)
    window = ["--start", "2024-01-01T00:00:00+00:00", "--end", "2024-01-01T00:00:00+00:00"]
    result = run_cli("backfill", "hourly", *window, "-p", f"x={HOSTILE}", "--conf", str(folder))
    assert result.returncode == 0, result.stderr
    assert seen_values("hourly") == [HOSTILE]


def test_params_read_back_from_the_audit_store_are_data(conf) -> None:
    """Crash recovery re-releases a record's stored params: they ran as data, they stay data."""
    folder = conf(HOURLY)
    audit = make_audit_backend()
    audit.claim(
        ReleaseRecord(
            workflow="hourly",
            release=T0,
            run_id="dead-run",
            pid=2**22 + 4321,
            type="scheduled",
            params={"x": HOSTILE},
        )
    )
    outcomes = Scheduler(folder, clock=SimulatedClock(T0 + timedelta(seconds=30))).run(
        until=T0 + timedelta(seconds=40)
    )
    assert audit.get("dead-run").status is ReleaseStatus.CRASHED
    assert [o.status for o in outcomes if o.ran] == ["SUCCESS"]
    assert seen_values("hourly") == [HOSTILE]


STALLING_SCHEDULE = """
every-minute:
  type: Workflow
  on: [{cronjob: "* * * * *"}]
  params: {x: {type: str, default: none}}
  jobs:
    j: {stages: [{id: show, run: "seen = ${{ params.x }}"}]}

stuck:
  type: Schedule
  workflows:
    - name: every-minute
      params: {x: "${{ release.type | stall }}"}
      on: [{cronjob: "* * * * *"}]
    - name: every-minute
      params: {x: "${{ release.type }}"}
      on: [{cronjob: "*/2 * * * *"}]
"""


def test_a_slow_schedule_param_cannot_freeze_the_scheduler(conf, tmp_path, monkeypatch, caplog) -> None:
    """A param expression that never finishes costs its own release, not the scheduler loop."""
    package = tmp_path / "reg" / "stall_filters"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(
        "import threading\nfrom runwright import custom_filter\nRELEASE = threading.Event()\n"
        "@custom_filter('stall')\ndef stall(value):\n    RELEASE.wait(60)\n    return value\n"
    )
    monkeypatch.syspath_prepend(str(package.parent))
    monkeypatch.setenv("RUNWRIGHT_REGISTRY", "runwright_contrib,stall_filters")
    monkeypatch.setenv("RUNWRIGHT_PARAMS_DEADLINE_SECONDS", "0.5")
    settings = Settings.from_env()
    runtime = Runtime(get_plugin_manager(settings), settings)
    folder = conf(STALLING_SCHEDULE)
    scheduler = Scheduler(folder, clock=SimulatedClock(T0 + timedelta(seconds=30)), runtime=runtime)
    try:
        outcomes = scheduler.run(until=T0 + timedelta(minutes=2, seconds=30))
    finally:
        sys.modules["stall_filters"].RELEASE.set()
    assert sorted(o.logical_date for o in outcomes if o.ran) == [T0 + timedelta(minutes=m) for m in (1, 2)]
    assert "did not render within 0.5 s" in caplog.text
