"""Every run carries a ``release`` context whatever started it (issue 23): the Python API, a
``trigger:`` stage, an ``on: release`` follower, the scheduler; date params follow it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from runwright.schedule.clock import SimulatedClock
from runwright.schedule.scheduler import Scheduler

from tests.conftest import run_cli

PARENT_AND_CHILD = """
parent:
  type: Workflow
  on: [{cronjob: '0 6 * * *', timezone: Europe/Paris}]
  params: {day: date}
  jobs:
    j:
      stages:
        - id: r
          run: |
            kind = "${{ release.type }}"
            logical = "${{ release.logical_date }}"
        - id: call
          trigger: child
child:
  type: Workflow
  params:
    when: datetime
    tag: {type: str, default: "t-${{ release.logical_date | fmt('%Y%m%d') }}"}
  jobs:
    j:
      stages:
        - id: r
          run: |
            kind = "${{ release.type }}"
            logical = "${{ release.logical_date }}"
follower:
  type: Workflow
  on: {release: [parent]}
  params: {day: date}
  jobs:
    j:
      stages:
        - id: r
          run: |
            kind = "${{ release.type }}"
            upstream = "${{ release.upstream.workflow }}"
"""


def outputs(context: dict[str, Any], stage: str = "r") -> dict[str, Any]:
    return context["jobs"]["j"]["stages"][stage]["outputs"]


def test_validate_accepts_release_in_a_workflows_own_stages_and_param_defaults(conf) -> None:
    folder = conf(PARENT_AND_CHILD)
    result = run_cli("validate", str(folder))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_python_api_run_is_a_manual_release_for_now_and_date_params_follow_it(workflow_from) -> None:
    workflow = workflow_from(PARENT_AND_CHILD, "child")
    before = datetime.now(UTC)
    result = workflow.execute({})
    release = result.context["release"]
    assert release["type"] == "manual" and release["attempt"] == 1
    assert before <= release["logical_date"] <= datetime.now(UTC)
    assert (
        release["data_interval_start"] == release["data_interval_end"] == release["logical_date"]
    )  # no cron
    assert result.context["params"]["when"] == release["logical_date"]
    assert result.context["params"]["tag"] == "t-" + release["logical_date"].strftime("%Y%m%d")


def test_a_trigger_child_gets_its_parents_logical_date(workflow_from) -> None:
    workflow = workflow_from(PARENT_AND_CHILD, "parent")
    tick = datetime(2024, 3, 1, 6, tzinfo=workflow.zone)
    result = workflow.release(tick, mode="dryrun")  # the checks pass
    assert result.status == "SUCCESS", result.checks
    from runwright.models.release import release_context

    outcome = workflow.execute({}, release=release_context(tick, "backfill", events=workflow.on))
    assert outcome.status.value == "SUCCESS", outcome.errors
    assert outcome.context["params"]["day"] == date(2024, 3, 1)
    assert outputs(outcome.context) == {"kind": "backfill", "logical": "2024-03-01T06:00:00+01:00"}
    assert outcome.context["release"]["data_interval_start"] == tick - timedelta(days=1)
    child = outcome.context["jobs"]["j"]["stages"]["call"]["outputs"]
    assert child["params"]["when"] == tick
    assert child["params"]["tag"] == "t-20240301"
    assert outputs(child) == {"kind": "trigger", "logical": "2024-03-01T06:00:00+01:00"}


def test_the_scheduler_and_an_on_release_follower_run_for_the_tick(conf, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("RUNWRIGHT_AUDIT_URL", f"sqlite:///{tmp_path / 'audit.db'}")
    folder = conf(PARENT_AND_CHILD)
    start = datetime(2024, 3, 1, 4, 59, tzinfo=UTC)
    outcomes = Scheduler(folder, clock=SimulatedClock(start)).run(until=start + timedelta(minutes=2))
    ran = {o.workflow: o for o in outcomes if o.ran}
    assert set(ran) == {"parent", "follower"}, [(o.workflow, o.status, o.reason) for o in outcomes]
    parent = ran["parent"].result.context
    assert parent["release"]["type"] == "schedule"
    assert parent["release"]["logical_date"].isoformat() == "2024-03-01T06:00:00+01:00"
    assert parent["params"]["day"] == date(2024, 3, 1)
    follower = ran["follower"].result.context
    assert outputs(follower) == {"kind": "event", "upstream": "parent"}
    assert follower["release"]["logical_date"] == parent["release"]["logical_date"]
    assert follower["params"]["day"] == date(2024, 3, 1)


CAUGHT_UP = """
every-minute:
  type: Workflow
  on: [{cronjob: "* * * * *", catchup: PT5M}]
  params: {asat: datetime, log: {type: str, default: LOG}}
  jobs:
    j:
      stages:
        - id: s
          bash: |
            echo "start ${{ release.logical_date | fmt('%H:%M') }}" >> "${{ params.log }}"
            sleep 0.3
            echo "end ${{ release.logical_date | fmt('%H:%M') }}" >> "${{ params.log }}"
"""


def test_catch_up_releases_missed_ticks_oldest_first_one_after_another(conf, monkeypatch, tmp_path) -> None:
    from runwright.audit import make_audit_backend

    monkeypatch.setenv("RUNWRIGHT_AUDIT_URL", f"sqlite:///{tmp_path / 'audit.db'}")
    log = tmp_path / "order.log"
    folder = conf(CAUGHT_UP.replace("LOG", str(log)))
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    Scheduler(folder, clock=SimulatedClock(t0 + timedelta(seconds=30))).run(until=t0 + timedelta(seconds=70))
    # down from 00:01:10 to 00:06:30: 00:02 .. 00:06 are caught up, with four workers free
    Scheduler(folder, clock=SimulatedClock(t0 + timedelta(minutes=6, seconds=30)), max_workers=4).run(
        until=t0 + timedelta(minutes=6, seconds=40)
    )
    records = sorted(make_audit_backend().list(workflow="every-minute"), key=lambda r: r.release)
    caught = [r for r in records if r.release > t0 + timedelta(minutes=1)]
    assert [r.release.strftime("%H:%M") for r in caught] == ["00:02", "00:03", "00:04", "00:05", "00:06"]
    assert [r.params["asat"] for r in caught] == [r.release.isoformat() for r in caught]
    lines = log.read_text().split("\n")
    minutes = ["00:02", "00:03", "00:04", "00:05", "00:06"]
    assert lines[-11:-1] == [f"{edge} {m}" for m in minutes for edge in ("start", "end")]  # one at a time
