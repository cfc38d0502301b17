"""Real scheduler processes on one audit store: exactly once, crash-safe, clean stop."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from runwright.audit import ReleaseStatus, make_audit_backend

from tests.conftest import REPO, run_cli, wait_for_file

T0 = datetime(2024, 1, 1, tzinfo=UTC)

MINUTELY = """
tick-{n}:
  type: Workflow
  on: [{{cronjob: "* * * * *"}}]
  jobs:
    j: {{stages: [{{id: s, bash: "echo {n} >> {log}"}}]}}
"""


def scheduler_process(folder: Path, *args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "runwright", "scheduler", "--conf", str(folder), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=REPO,
    )


@pytest.mark.parametrize("url_kind", ["file", "sqlite"])
def test_two_schedulers_never_release_a_tick_twice(conf, tmp_path, monkeypatch, url_kind) -> None:
    if url_kind == "sqlite":
        monkeypatch.setenv("RUNWRIGHT_AUDIT_URL", f"sqlite:///{tmp_path / 'audit.db'}")
    log = tmp_path / "runs.log"
    folder = conf("".join(MINUTELY.format(n=n, log=log) for n in range(3)))
    args = (
        "--simulate-from",
        T0.isoformat(),
        "--until",
        (T0 + timedelta(minutes=20)).isoformat(),
        "--workers",
        "2",
    )
    first, second = scheduler_process(folder, *args), scheduler_process(folder, *args)
    for process in (first, second):
        process.wait(timeout=120)
        assert process.returncode == 0, process.stderr.read()
    records = make_audit_backend().list(limit=10_000)
    keys = [(r.workflow, r.release) for r in records]
    assert len(keys) == len(set(keys)) == 3 * 20  # every tick of every workflow, once
    assert all(r.attempt == 1 and r.status is ReleaseStatus.SUCCESS for r in records)
    assert sorted(log.read_text().split()) == sorted(["0", "1", "2"] * 20)


CRASHY = """
crashy:
  type: Workflow
  on: [{{cronjob: "* * * * *", retry-crashed: true}}]
  jobs:
    j:
      stages:
        - id: s
          bash: |
            echo "$RUNWRIGHT_RUN_ID" >> {log}
            [ -e {allow} ] || {{ touch {started}; sleep 60; }}
"""


def test_sigkill_mid_run_loses_nothing_and_duplicates_nothing(conf, tmp_path) -> None:
    log, allow, started = tmp_path / "runs.log", tmp_path / "allow", tmp_path / "started"
    folder = conf(CRASHY.format(log=log, allow=allow, started=started))
    args = (
        "--simulate-from",
        (T0 + timedelta(seconds=30)).isoformat(),
        "--until",
        (T0 + timedelta(minutes=1, seconds=30)).isoformat(),
        "--heartbeat-seconds",
        "0.2",
    )
    victim = scheduler_process(folder, *args)
    wait_for_file(started)
    assert started.exists(), victim.stderr.read() if victim.poll() is not None else "never started"
    audit = make_audit_backend()
    [running] = audit.list(workflow="crashy")
    assert running.status is ReleaseStatus.RUNNING and running.pid == victim.pid
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    allow.touch()
    subprocess.run(["pkill", "-f", str(started)], check=False)  # the orphaned sleep, if any

    restarted = scheduler_process(folder, *args)
    out, err = restarted.communicate(timeout=120)
    assert restarted.returncode == 0, err
    attempts = audit.attempts("crashy", T0 + timedelta(minutes=1))
    assert [(a.attempt, a.status.value) for a in attempts] == [(1, "CRASHED"), (2, "SUCCESS")]
    assert attempts[1].parent_run_id == attempts[0].run_id
    assert len(audit.list(workflow="crashy")) == 2  # no other release of that tick, none lost
    assert log.read_text().split() == [attempts[0].run_id, attempts[1].run_id]
    assert "crashed" in err


def test_sigterm_stops_cleanly_and_records_cancel(conf, tmp_path) -> None:
    started = tmp_path / "started"
    folder = conf(f"""
    long:
      type: Workflow
      on: [{{cronjob: "* * * * *"}}]
      jobs:
        j: {{stages: [{{id: s, bash: "touch {started}; sleep 60"}}]}}
    """)
    process = scheduler_process(
        folder,
        "--simulate-from",
        (T0 + timedelta(seconds=50)).isoformat(),
        "--until",
        (T0 + timedelta(minutes=1, seconds=5)).isoformat(),
        "--grace-seconds",
        "0.5",
    )
    wait_for_file(started)
    assert started.exists()
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "stopping" in err
    [record] = make_audit_backend().list(workflow="long")
    assert record.status is ReleaseStatus.CANCEL and record.ended is not None


def test_backfill_releases_ticks_without_success(conf, tmp_path) -> None:
    flag = tmp_path / "fail-at-0200"
    folder = conf(f"""
    hourly:
      type: Workflow
      on: [{{cronjob: "0 * * * *"}}]
      params: {{when: {{type: str, default: x}}}}
      jobs:
        j:
          stages:
            - id: s
              bash: '[ ! -e {flag} ] || [ "$RUNWRIGHT_RUN_ID" = never ]'
    """)
    window = ("--start", "2024-01-01T00:00:00+00:00", "--end", "2024-01-01T03:00:00+00:00")
    flag.touch()
    first = run_cli("backfill", "hourly", *window, "--conf", str(folder))
    assert first.returncode == 1
    assert first.stdout.count("FAILED") == 4
    flag.unlink()
    audit = make_audit_backend()
    from runwright import Workflow

    Workflow.from_conf("hourly", folder).release(T0, mode="force")  # 00:00 now has a SUCCESS
    second = run_cli("backfill", "hourly", *window, "--conf", str(folder))
    assert second.returncode == 0, second.stderr
    assert "2024-01-01T00:00:00+00:00: already SUCCESS, skipped" in second.stdout
    assert second.stdout.count(": SUCCESS (run") == 3
    later = audit.attempts("hourly", T0 + timedelta(hours=2))
    assert [(a.attempt, a.status.value, a.type.value) for a in later] == [
        (1, "FAILED", "backfill"),
        (2, "SUCCESS", "backfill"),
    ]


def test_backfill_of_a_schedule_releases_each_of_its_workflows_with_its_params(conf) -> None:
    folder = conf("""
    hourly:
      type: Workflow
      on: [{cronjob: "0 * * * *"}]
      params: {source: {type: str, default: none}, asat: {type: str, default: none}}
      jobs: {j: {stages: [{id: s, echo: "${{ params.source }} ${{ params.asat }}"}]}}
    other:
      type: Workflow
      params: {source: {type: str, default: none}}
      jobs: {j: {stages: [{id: s, echo: x}]}}
    nightly-pair:
      type: Schedule
      workflows:
        - name: hourly
          params: {source: USD-THB, asat: "${{ release.logical_date }}"}
        - name: other
          params: {source: EUR-THB}
          on: [{cronjob: "0 */2 * * *"}]
    """)
    window = ("--start", "2024-01-01T00:00:00+00:00", "--end", "2024-01-01T03:00:00+00:00")
    done = run_cli("backfill", "nightly-pair", *window, "--conf", str(folder))
    assert done.returncode == 0, done.stderr
    assert "hourly @ 2024-01-01T03:00:00+00:00: SUCCESS (run" in done.stdout
    audit = make_audit_backend()
    hourly = sorted(audit.list(workflow="hourly"), key=lambda r: r.release)
    assert [r.release for r in hourly] == [T0 + timedelta(hours=h) for h in range(4)]
    assert all(r.params["source"] == "USD-THB" and r.type.value == "backfill" for r in hourly)
    assert [datetime.fromisoformat(r.params["asat"]) for r in hourly] == [r.release for r in hourly]
    other = sorted(audit.list(workflow="other"), key=lambda r: r.release)
    assert [(r.release, r.params["source"]) for r in other] == [
        (T0, "EUR-THB"),
        (T0 + timedelta(hours=2), "EUR-THB"),
    ]
    again = run_cli("backfill", "nightly-pair", *window, "--conf", str(folder))
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("already SUCCESS, skipped") == 6


def test_backfill_reads_a_naive_window_in_the_workflows_zone(conf) -> None:
    folder = conf("""
    bangkok-daily:
      type: Workflow
      on: [{cronjob: "0 0 * * *", timezone: Asia/Bangkok}]
      jobs: {j: {stages: [{id: s, echo: x}]}}
    """)
    window = ("--start", "2024-01-01T00:00:00", "--end", "2024-01-02T00:00:00")
    done = run_cli("backfill", "bangkok-daily", *window, "--conf", str(folder))
    assert done.returncode == 0, done.stderr
    assert "naive --start/--end read in Asia/Bangkok" in done.stdout
    # the first midnight in Bangkok is in the window; each tick also shows its UTC time
    assert "2024-01-01T00:00:00+07:00 (2023-12-31T17:00:00+00:00 UTC): SUCCESS" in done.stdout
    assert "2024-01-02T00:00:00+07:00 (2024-01-01T17:00:00+00:00 UTC): SUCCESS" in done.stdout
    assert len(make_audit_backend().list(workflow="bangkok-daily")) == 2


def test_audit_cli_list_show_and_rerun_lineage(conf, tmp_path) -> None:
    folder = conf("""
    flaky:
      type: Workflow
      jobs:
        j: {stages: [{id: s, bash: '[ "${MAKE_IT:-fail}" = work ]'}]}
    """)
    failed = json.loads(run_cli("run", "flaky", "--conf", str(folder), "--json").stdout)
    assert failed["status"] == "FAILED"
    fixed = run_cli("rerun", failed["run_id"], "--conf", str(folder), "--json", env={"MAKE_IT": "work"})
    assert fixed.returncode == 0, fixed.stderr
    new_id = json.loads(fixed.stdout)["run_id"]
    listing = json.loads(run_cli("audit", "list", "flaky", "--json").stdout)
    assert [(r["run_id"], r["status"], r["type"], r["attempt"]) for r in listing] == [
        (new_id, "SUCCESS", "rerun", 2),
        (failed["run_id"], "FAILED", "manual", 1),
    ]
    assert listing[0]["parent_run_id"] == failed["run_id"]
    only_failed = json.loads(run_cli("audit", "list", "--status", "failed", "--json").stdout)
    assert [r["run_id"] for r in only_failed] == [failed["run_id"]]
    text = run_cli("audit", "list").stdout
    assert f"{new_id}  flaky" in text and "rerun" in text
    shown = json.loads(run_cli("audit", "show", failed["run_id"]).stdout)
    assert shown["errors"][0]["name"] == "BashError" and shown["status"] == "FAILED"
    assert run_cli("audit", "show", "nope").returncode == 2
    assert run_cli("audit", "list", "--status", "weird").returncode == 2


def test_unknown_audit_scheme_lists_backends(conf) -> None:
    folder = conf("w: {type: Workflow, jobs: {j: {stages: [{id: s, echo: x}]}}}\n")
    result = run_cli("run", "w", "--conf", str(folder), env={"RUNWRIGHT_AUDIT_URL": "mysql://db/x"})
    assert result.returncode == 2
    assert "no audit backend for 'mysql://db/x'" in result.stderr
    assert "file://" in result.stderr and "sqlite://" in result.stderr


@pytest.mark.parametrize(
    "signals",
    [
        pytest.param((signal.SIGINT,), id="ctrl-c"),
        # an impatient user, then a supervisor; two SIGINTs in a row can merge into one (a
        # pending signal is not queued twice), so each number is looked for once
        pytest.param((signal.SIGINT, signal.SIGINT, signal.SIGTERM), id="ctrl-c-twice-then-sigterm"),
    ],
)
def test_ctrl_c_on_run_cancels_and_records_cancel(conf, tmp_path, signals) -> None:
    started = tmp_path / "started"
    marker = f"sleep 32 # {tmp_path.name}"
    folder = conf(f"""
    interruptible:
      type: Workflow
      jobs:
        j: {{stages: [{{id: s, bash: "touch {started}; {marker}"}}]}}
    """)
    process = subprocess.Popen(
        [sys.executable, "-m", "runwright", "run", "interruptible", "--conf", str(folder), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
    )
    assert wait_for_file(started), "the stage never started"
    for sig in signals:
        process.send_signal(sig)
    # a cancelled stage ends at once; 60 s only bounds a starved process on a loaded machine (a
    # stage left running would end by itself after 32 s, SUCCESS, and fail the checks below)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 1, (out, err)
    document = json.loads(out)
    assert document["status"] == "CANCEL"
    for number in sorted(set(signals)):
        assert f"received signal {int(number)}: cancelling the run" in err
    [record] = make_audit_backend().list(workflow="interruptible")
    assert record.status is ReleaseStatus.CANCEL and record.run_id == document["run_id"]
    assert subprocess.run(["pgrep", "-f", marker], capture_output=True).stdout == b""
