"""What ``runwright scheduler`` says at start-up, which templates it skips and why, and how a
template that only fails in full validation is released: recorded FAILED, never skipped."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from runwright.audit import ReleaseRecord, ReleaseStatus, make_audit_backend
from runwright.schedule.clock import SimulatedClock
from runwright.schedule.scheduler import Scheduler

from tests.conftest import run_cli

T0 = datetime(2024, 1, 1, 0, 59, 30, tzinfo=UTC)
TICK = datetime(2024, 1, 1, 1, tzinfo=UTC)

TEMPLATES = """
hourly-bkk:
  type: Workflow
  on: [{cronjob: "0 * * * *", timezone: Asia/Bangkok}]
  jobs: {j: {stages: [{id: s, echo: hi}]}}
two-lines:
  type: Workflow
  on: [{cronjob: "* * * * *"}, {cronjob: "*/2 * * * *"}]
  jobs: {j: {stages: [{id: s, echo: hi}]}}
bad-cron:
  type: Workflow
  on: [{cronjob: "61 * * * *"}]
  jobs: {j: {stages: [{id: s, echo: hi}]}}
bad-stage:
  type: Workflow
  on: [{cronjob: "* * * * *"}]
  jobs: {j: {stages: [{id: s, ech: hi}]}}
unscheduled:
  type: Workflow
  jobs: {j: {stages: [{id: s, echo: "${{ params.nope }}"}]}}
"""


def test_startup_says_what_it_loaded_what_it_skipped_and_the_next_tick(conf, tmp_path) -> None:
    conf("x:\n  type: Workflow\n  jobs: [oops\n", "broken.yml")
    folder = conf(TEMPLATES)
    audit_url = f"sqlite:///{tmp_path / 'audit.db'}"
    done = run_cli(
        "scheduler",
        "--conf",
        str(folder),
        "--simulate-from",
        T0.isoformat(),
        "--until",
        (TICK + timedelta(minutes=2, seconds=30)).isoformat(),
        env={"RUNWRIGHT_AUDIT_URL": audit_url},
    )
    assert done.returncode == 0, done.stderr
    err = done.stderr
    assert (
        f"loaded 4 workflows and 0 schedules (4 schedule entries) from {folder}; audit store {audit_url}"
        in err
    )
    assert "left out (2):" in err
    assert "broken.yml: invalid YAML" in err
    assert (
        "templates.yml: template 'bad-cron' is invalid:\n    - on[0].cronjob: '61 * * * *' is not a valid"
        in err
    )
    assert (
        "next tick at 2024-01-01T01:00:00+00:00 UTC: bad-stage, "
        "hourly-bkk (2024-01-01T08:00:00+07:00 Asia/Bangkok), two-lines"
    ) in err
    # found while waiting for the first tick, before any release
    found = err.index("each release of this template will fail: ")
    assert "template 'bad-stage' is invalid:\n  - jobs.j.stages[0]" in err[found:]
    assert found < err.index("FAILED before it started")
    # two cron lines of one workflow meeting at a tick: one release, said once, never "another process"
    assert "another process" not in err
    assert err.count("two-lines @ 2024-01-01T01:00:00+00:00 is due from 2 entries") == 1
    records = make_audit_backend(audit_url).list(limit=100)
    releases = sorted(
        (r.workflow, r.release.astimezone(UTC).strftime("%H:%M"), r.status.value) for r in records
    )
    assert releases == [
        ("bad-stage", "01:00", "FAILED"),
        ("bad-stage", "01:01", "FAILED"),
        ("bad-stage", "01:02", "FAILED"),
        ("hourly-bkk", "01:00", "SUCCESS"),
        ("two-lines", "01:00", "SUCCESS"),
        ("two-lines", "01:01", "SUCCESS"),
        ("two-lines", "01:02", "SUCCESS"),
    ]
    failed = next(r for r in records if r.workflow == "bad-stage")
    message = failed.errors[0]["message"]
    assert "templates.yml: template 'bad-stage' is invalid" in message and "jobs.j.stages[0]" in message
    assert "bad-stage @ 2024-01-01T01:00:00+00:00: FAILED" in done.stdout


def test_a_tick_claimed_elsewhere_is_another_process_and_ours_is_not(conf, caplog) -> None:
    folder = conf(TEMPLATES)
    audit = make_audit_backend()
    audit.claim(ReleaseRecord(workflow="two-lines", release=TICK + timedelta(minutes=1), run_id="elsewhere"))
    scheduler = Scheduler(folder, clock=SimulatedClock(T0), max_workers=1)
    with caplog.at_level(logging.DEBUG, logger="runwright.scheduler"):
        outcomes = scheduler.run(until=TICK + timedelta(minutes=2, seconds=30))
    said = [r.getMessage() for r in caplog.records if "another process" in r.getMessage()]
    assert said == ["two-lines @ 2024-01-01 01:01:00+00:00 was released by another process"]
    ran = sorted(
        o.logical_date.astimezone(UTC).strftime("%H:%M") for o in outcomes if o.workflow == "two-lines"
    )
    assert ran == ["01:00", "01:02"]
    assert audit.get("elsewhere").status is ReleaseStatus.RUNNING


def test_start_up_validates_only_on_and_the_wait_validates_the_rest(conf, caplog) -> None:
    folder = conf(TEMPLATES)
    scheduler = Scheduler(folder, clock=SimulatedClock(T0), max_workers=1)
    scheduler.load()
    assert not scheduler.templates["bad-stage"].built  # nothing but on: validated at start-up
    assert sorted(scheduler.workflows) == ["bad-stage", "hourly-bkk", "two-lines", "unscheduled"]
    assert "bad-cron" in caplog.text  # load() says what it skipped
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="runwright.scheduler"):
        scheduler.warm_up(TICK)
    assert all(template.built for template in scheduler.templates.values())
    said = [r.getMessage() for r in caplog.records]
    assert [message.split(":")[0] for message in said] == ["each release of this template will fail"] * 2
    assert "template 'bad-stage' is invalid" in said[0] + said[1]
    assert "params.nope" in said[0] + said[1]  # the static checks every run starts with


FOLLOWED = """
upstream:
  type: Workflow
  on: [{cronjob: "* * * * *"}]
  jobs: {j: {stages: [{id: s, echo: hi}]}}
broken-follower:
  type: Workflow
  on: {release: [upstream]}
  jobs: {j: {stages: [{id: s, echo: hi, retries: lots}]}}
"""


def test_a_broken_follower_is_recorded_failed(conf, caplog) -> None:
    folder = conf(FOLLOWED)
    scheduler = Scheduler(folder, clock=SimulatedClock(T0), max_workers=1)
    with caplog.at_level(logging.ERROR, logger="runwright"):
        scheduler.run(until=TICK + timedelta(seconds=30))
    records = make_audit_backend().list(workflow="broken-follower")
    assert [(r.release, r.status) for r in records] == [(TICK, ReleaseStatus.FAILED)]
    assert "template 'broken-follower' is invalid" in records[0].errors[0]["message"]
    assert "jobs.j.stages[0]" in records[0].errors[0]["message"]
