"""Cron ticks, releases, Schedule templates and the scheduler on a simulated clock."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from runwright import Schedule, Workflow
from runwright.audit import ReleaseStatus, make_audit_backend
from runwright.models.events import CronEvent
from runwright.schedule.clock import SimulatedClock
from runwright.schedule.cron import latest_tick, ticks_between
from runwright.schedule.scheduler import Scheduler, parse_duration, stop_boundary

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def event(**fields) -> CronEvent:
    return CronEvent.model_validate(fields)


def test_tick_in_bangkok() -> None:
    bangkok = event(cronjob="0 9 * * *", timezone="Asia/Bangkok")
    ticks = ticks_between(bangkok, T0, T0 + timedelta(days=2))
    assert [t.astimezone(UTC).isoformat() for t in ticks] == [
        "2024-01-01T02:00:00+00:00",
        "2024-01-02T02:00:00+00:00",
    ]
    assert ticks[0].tzinfo == ZoneInfo("Asia/Bangkok") and ticks[0].hour == 9


def test_ticks_across_dst_in_london() -> None:
    london = event(cronjob="30 * * * *", timezone="Europe/London")
    spring = ticks_between(london, datetime(2024, 3, 31, 0, tzinfo=UTC), datetime(2024, 3, 31, 3, tzinfo=UTC))
    # 01:30 local does not exist on the spring-forward night: 00:30 GMT, then 02:30 BST
    assert [t.isoformat() for t in spring] == [
        "2024-03-31T00:30:00+00:00",
        "2024-03-31T02:30:00+01:00",
        "2024-03-31T03:30:00+01:00",
    ]
    assert [t.astimezone(UTC).hour for t in spring] == [0, 1, 2]  # still hourly in UTC
    autumn = ticks_between(
        london, datetime(2024, 10, 27, 0, tzinfo=UTC), datetime(2024, 10, 27, 2, 45, tzinfo=UTC)
    )
    # 01:30 local happens twice when clocks go back: both ticks run, an hour apart
    assert [t.astimezone(UTC).isoformat() for t in autumn] == [
        "2024-10-27T00:30:00+00:00",
        "2024-10-27T01:30:00+00:00",
        "2024-10-27T02:30:00+00:00",
    ]
    daily = event(cronjob="0 9 * * *", timezone="Europe/London")
    summer = ticks_between(daily, datetime(2024, 3, 30, tzinfo=UTC), datetime(2024, 4, 1, tzinfo=UTC))
    assert [t.astimezone(UTC).hour for t in summer] == [9, 8]  # 09:00 local on both sides


def test_start_end_and_latest_tick() -> None:
    bounded = event(cronjob="0 * * * *", start="2024-01-01T05:00:00", end="2024-01-01T07:00:00")
    assert [t.hour for t in ticks_between(bounded, T0, T0 + timedelta(days=1))] == [5, 6, 7]
    hourly = event(cronjob="0 * * * *")
    assert latest_tick(hourly, T0 + timedelta(minutes=90)) == T0 + timedelta(hours=1)
    assert latest_tick(hourly, T0) == T0


def test_durations() -> None:
    assert parse_duration("PT5M") == timedelta(minutes=5)
    assert parse_duration("P1DT2H") == timedelta(days=1, hours=2)
    assert parse_duration('{"minutes": 5}') == timedelta(minutes=5)
    assert parse_duration("90") == timedelta(seconds=90)
    assert event(cronjob="* * * * *", catchup="PT2H").catchup == timedelta(hours=2)


def test_stop_boundary_setting(monkeypatch) -> None:
    assert stop_boundary(T0) == T0 + timedelta(minutes=5)
    monkeypatch.setenv("RUNWRIGHT_STOP_BOUNDARY_DELTA", '{"minutes": 30}')
    assert stop_boundary(T0) == T0 + timedelta(minutes=30)


RELEASE_WF = """
daily:
  type: Workflow
  on: [{cronjob: "0 0 * * *"}]
  params:
    asat: datetime
    kind: {type: str, default: none}
  jobs:
    j:
      stages:
        - {id: show, run: "stamp = ${{ params.asat }}.isoformat() + '/' + ${{ params.kind }}"}
"""


def test_release_modes_and_release_params(workflow_from) -> None:
    wf: Workflow = workflow_from(RELEASE_WF)
    params = {"asat": "${{ release.logical_date }}", "kind": "${{ release.type }}"}
    started = datetime.now(UTC)
    ran_at = wf.release(T0, {"asat": "${{ release.run_date }}"}, mode="force").result
    assert ran_at.context["params"]["asat"] >= started  # the actual start, not the tick
    make_audit_backend().close()
    first = wf.release(T0 + timedelta(days=1), params)
    assert first.ran and first.status == "SUCCESS" and first.attempt == 1
    stamp = first.result.context["jobs"]["j"]["stages"]["show"]["outputs"]["stamp"]
    assert stamp == "2024-01-02T00:00:00+00:00/manual"
    day2 = T0 + timedelta(days=1)
    again = wf.release(day2, params)
    assert not again.ran and again.status == "SKIP" and "already released" in again.reason
    forced = wf.release(day2, params, mode="force")
    assert forced.ran and forced.attempt == 2
    audit = make_audit_backend()
    attempts = audit.attempts("daily", day2)
    assert [(a.attempt, a.status.value, a.type.value) for a in attempts] == [
        (1, "SUCCESS", "manual"),
        (2, "SUCCESS", "manual"),
    ]
    record = audit.get(first.run_id)
    assert record.definition_hash == wf.definition_hash and record.pid > 0 and record.host
    assert record.context["jobs"]["j"]["status"] == "SUCCESS"


def test_dry_run_checks_without_running(workflow_from, tmp_path) -> None:
    marker = tmp_path / "ran"
    wf = workflow_from(f"""
    checked:
      type: Workflow
      params: {{n: int}}
      jobs:
        j:
          stages:
            - {{id: side-effect, bash: "touch {marker}"}}
            - {{id: call, uses: tasks/greet@local, with: {{name: "${{{{ params.n }}}}", times: "${{{{ params.n }}}}"}}}}
            - {{id: later, uses: tasks/greet@local, with: {{name: "${{{{ stages.call.outputs.greeting }}}}"}}}}
            - {{id: bad-args, uses: tasks/greet@local, with: {{nam: x}}}}
            - {{id: missing, uses: tasks/nope@local}}
            - {{id: bad-filter, echo: "${{{{ params.n | nosuch }}}}"}}
    """)
    outcome = wf.release(T0, {"n": 2}, mode="dryrun")
    assert not marker.exists()
    assert outcome.status == "FAILED" and not outcome.ran
    checks = {c["where"].rsplit(".", 1)[1]: c for c in outcome.checks}
    assert checks["side-effect"]["ok"]
    assert checks["call"]["ok"] and "tasks/greet@local(name: str, times: int = 1)" in checks["call"]["uses"]
    assert checks["later"]["ok"] and checks["later"]["deferred"] == ["name"]
    assert not checks["bad-args"]["ok"] and "nam" in checks["bad-args"]["message"]
    assert not checks["missing"]["ok"] and "no call function 'nope'" in checks["missing"]["message"]
    assert not checks["bad-filter"]["ok"] and "unknown filter" in checks["bad-filter"]["message"]
    assert make_audit_backend().list() == []  # a dry run records nothing


SCHEDULED = """
every-minute:
  type: Workflow
  on: [{{cronjob: "* * * * *"{catchup}}}]
  params: {{asat: datetime}}
  jobs:
    j: {{stages: [{{id: s, echo: "${{{{ params.asat }}}}"}}]}}
"""


def scheduler_for(conf, text: str, start: datetime, **options) -> Scheduler:
    folder = conf(text)
    return Scheduler(folder, clock=SimulatedClock(start), **options)


def released(outcomes) -> list[str]:
    return [o.logical_date.astimezone(UTC).strftime("%H:%M") for o in outcomes if o.ran]


def test_scheduler_releases_each_tick_once(conf) -> None:
    scheduler = scheduler_for(conf, SCHEDULED.format(catchup=""), T0 + timedelta(seconds=30))
    outcomes = scheduler.run(until=T0 + timedelta(minutes=3, seconds=30))
    assert sorted(released(outcomes)) == ["00:01", "00:02", "00:03"]
    assert all(o.status == "SUCCESS" for o in outcomes)
    audit = make_audit_backend()
    assert sorted(r.release for r in audit.list(workflow="every-minute")) == [
        T0 + timedelta(minutes=m) for m in (1, 2, 3)
    ]
    assert {r.type.value for r in audit.list()} == {"scheduled"}


def test_downtime_without_catchup_runs_only_the_latest_tick(conf, caplog) -> None:
    text = SCHEDULED.format(catchup="")
    scheduler_for(conf, text, T0 + timedelta(seconds=30)).run(until=T0 + timedelta(minutes=1, seconds=30))
    # down from 00:01:30 to 00:10:30
    with caplog.at_level(logging.WARNING, logger="runwright.scheduler"):
        outcomes = scheduler_for(conf, text, T0 + timedelta(minutes=10, seconds=30)).run(
            until=T0 + timedelta(minutes=11, seconds=30)
        )
    assert sorted(released(outcomes)) == ["00:10", "00:11"]
    assert "skipping missed tick" in caplog.text


def test_downtime_with_catchup_window_runs_missed_ticks_oldest_first(conf, caplog) -> None:
    text = SCHEDULED.format(catchup=", catchup: PT3M")
    scheduler_for(conf, text, T0 + timedelta(seconds=30)).run(until=T0 + timedelta(minutes=1, seconds=30))
    with caplog.at_level(logging.WARNING, logger="runwright.scheduler"):
        scheduler = scheduler_for(conf, text, T0 + timedelta(minutes=10, seconds=30), max_workers=1)
        outcomes = scheduler.run(until=T0 + timedelta(minutes=10, seconds=40))
    assert released(outcomes) == ["00:08", "00:09", "00:10"]
    skipped = [line for line in caplog.text.splitlines() if "skipping missed tick" in line]
    assert len(skipped) == 6  # 00:02 .. 00:07


def test_scheduler_reloads_changed_templates(conf) -> None:
    folder = conf(SCHEDULED.format(catchup=""))
    scheduler = Scheduler(folder, clock=SimulatedClock(T0 + timedelta(seconds=30)))
    scheduler.load()
    assert list(scheduler.entries.values())[0].event.cronjob == "* * * * *"
    conf(SCHEDULED.format(catchup="").replace("* * * * *", "*/5 * * * *"))
    import os

    os.utime(folder / "templates.yml", (1, 2_000_000_000))
    assert scheduler.reload_if_changed()
    assert [e.event.cronjob for e in scheduler.entries.values()] == ["*/5 * * * *"]


SEED_SCHEDULE = """
run-py-local:
  type: Workflow
  on:
    - cronjob: '*/5 * * * *'
      timezone: "Asia/Bangkok"
  params:
    source-extract: str
    run-date: datetime
    asat-dt: datetime
  jobs:
    j:
      stages:
        - id: s
          run: "label = ${{ params.source-extract }} + '@' + str(${{ params.asat-dt }})"

schedule-run-local-wf:
  type: Schedule
  workflows:
    - name: run-py-local
      params:
        source-extract: "USD-THB"
        asat-dt: "${{ release.logical_date }}"
"""


def test_schedule_template_pending(conf, runtime, monkeypatch) -> None:
    folder = conf(SEED_SCHEDULE)
    monkeypatch.setenv("RUNWRIGHT_CONF", str(folder))
    schedule = Schedule.from_loader("schedule-run-local-wf", runtime=runtime)
    clock = SimulatedClock(T0 + timedelta(minutes=1))
    outcomes = schedule.pending(stop=T0 + timedelta(minutes=12), clock=clock)
    assert sorted(released(outcomes)) == ["00:05", "00:10"]
    labels = sorted(o.result.context["jobs"]["j"]["stages"]["s"]["outputs"]["label"] for o in outcomes)
    assert labels == ["USD-THB@2024-01-01 07:05:00+07:00", "USD-THB@2024-01-01 07:10:00+07:00"]
    # the default stop is now + RUNWRIGHT_STOP_BOUNDARY_DELTA
    monkeypatch.setenv("RUNWRIGHT_STOP_BOUNDARY_DELTA", "PT6M")
    more = schedule.pending(clock=SimulatedClock(T0 + timedelta(minutes=12)))
    assert released(more) == ["00:15"]


def test_pending_and_this_minutes_tick_that_already_passed(conf, runtime) -> None:
    """As documented (README, ``Schedule.pending``): a workflow never released starts at the next
    tick; one released before first runs the latest tick it missed, even this minute's."""
    folder = conf("""
    minutely:
      type: Workflow
      on: [{cronjob: "* * * * *"}]
      jobs: {j: {stages: [{id: s, echo: x}]}}
    every-minute:
      type: Schedule
      workflows: [{name: minutely}]
    """)
    schedule = Schedule.from_conf("every-minute", folder, runtime=runtime)
    seconds = timedelta(seconds=1)
    # never released: at 00:00:30 the 00:00 tick has passed and is not run
    fresh = schedule.pending(stop=T0 + 150 * seconds, clock=SimulatedClock(T0 + 30 * seconds))
    assert sorted(released(fresh)) == ["00:01", "00:02"]
    # released up to 00:02, back at 00:05:30: 00:05 (passed 30 s ago) runs at once, then 00:06;
    # 00:03 and 00:04 are missed ticks outside any catch-up window
    back = schedule.pending(stop=T0 + 390 * seconds, clock=SimulatedClock(T0 + 330 * seconds))
    assert sorted(released(back)) == ["00:05", "00:06"]


def test_invalid_schedule_names_the_field(conf, runtime) -> None:
    from runwright.errors import TemplateError

    folder = conf("s:\n  type: Schedule\n  workflows: [{name: x, param: {}}]\n")
    with pytest.raises(
        TemplateError, match=r"workflows\[0\]\.param: unknown key 'param' \(did you mean 'params'\?\)"
    ):
        Schedule.from_conf("s", folder, runtime=runtime)


def test_crash_recovery_in_process(conf, runtime) -> None:
    """A RUNNING record whose pid is gone is marked CRASHED and, if allowed, re-released."""
    from runwright.audit import ReleaseRecord

    folder = conf(SCHEDULED.format(catchup=", retry-crashed: true"))
    audit = make_audit_backend()
    dead_pid = 2**22 + 12345
    audit.claim(
        ReleaseRecord(
            workflow="every-minute",
            release=T0,
            run_id="dead-run",
            pid=dead_pid,
            type="scheduled",
            params={"asat": T0.isoformat()},
        )
    )
    scheduler = Scheduler(folder, clock=SimulatedClock(T0 + timedelta(seconds=30)))
    outcomes = scheduler.run(until=T0 + timedelta(seconds=40))
    assert audit.get("dead-run").status is ReleaseStatus.CRASHED
    assert "process is gone" in audit.get("dead-run").errors[0]["message"]
    retried = [o for o in outcomes if o.ran]
    assert len(retried) == 1 and retried[0].attempt == 2 and retried[0].status == "SUCCESS"
    assert audit.get(retried[0].run_id).parent_run_id == "dead-run"


def test_audit_records_mask_secrets(workflow_from, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("WAREHOUSE_PASSWORD", "pw-Secret-991")
    wf = workflow_from("""
    secretive:
      type: Workflow
      params: {dsn: {type: str, default: "db://user:${WAREHOUSE_PASSWORD}@host"}}
      jobs:
        j:
          stages:
            - {id: s, bash: 'echo "connecting to $DSN"', env: {DSN: "${{ params.dsn }}"}}
            - {id: fail, raise: "login failed for ${{ params.dsn }}"}
    """)
    outcome = wf.release(T0)
    assert outcome.status == "FAILED"
    record = make_audit_backend().get(outcome.run_id)
    text = record.model_dump_json()
    assert "pw-Secret-991" not in text
    assert "db://user:***@host" in record.params["dsn"]
    assert record.errors[0]["message"] == "login failed for db://user:***@host"
    stored = "".join(p.read_text() for p in (tmp_path / "audits").rglob("*") if p.is_file())
    assert "pw-Secret-991" not in stored


def test_stale_heartbeat_is_crashed_even_on_another_host(conf) -> None:
    from runwright.audit import ReleaseRecord

    folder = conf(SCHEDULED.format(catchup=""))
    audit = make_audit_backend()
    audit.claim(
        ReleaseRecord(
            workflow="every-minute",
            release=T0,
            run_id="far-away",
            host="other-host",
            pid=1,
            heartbeat=datetime.now(UTC) - timedelta(minutes=30),
        )
    )
    audit.claim(
        ReleaseRecord(
            workflow="every-minute",
            release=T0 + timedelta(minutes=1),
            run_id="alive",
            host="other-host",
            pid=1,
            heartbeat=datetime.now(UTC),
        )
    )
    Scheduler(folder, clock=SimulatedClock(T0 + timedelta(minutes=1, seconds=10))).run(
        until=T0 + timedelta(minutes=1, seconds=20)
    )
    assert audit.get("far-away").status is ReleaseStatus.CRASHED
    assert "no heartbeat since" in audit.get("far-away").errors[0]["message"]
    assert audit.get("alive").status is ReleaseStatus.RUNNING  # fresh heartbeat: left alone


def test_running_release_refreshes_its_heartbeat(workflow_from) -> None:
    import threading
    import time

    wf = workflow_from("""
    beating:
      type: Workflow
      jobs: {j: {stages: [{id: s, bash: "sleep 1.5"}]}}
    """)
    box = {}
    runner = threading.Thread(target=lambda: box.update(out=wf.release(T0, heartbeat_seconds=0.1)))
    runner.start()
    audit = make_audit_backend()
    seen = []
    for _ in range(100):  # read the RUNNING record while the stage sleeps
        records = audit.list(workflow="beating")
        if records and records[0].status is ReleaseStatus.RUNNING:
            seen.append(records[0].heartbeat)
        time.sleep(0.05)
        if len(seen) >= 2 and seen[-1] - seen[0] >= timedelta(seconds=0.3):
            break
    runner.join(timeout=30)
    assert len(seen) >= 2 and seen[-1] - seen[0] >= timedelta(seconds=0.3)
    assert box["out"].status == "SUCCESS"
