"""Any command that reads a RUNNING record whose process is gone (or whose heartbeat is
stale) marks it CRASHED: not only the scheduler."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from runwright.audit import AuditBackend, ReleaseRecord, ReleaseStatus

from tests.conftest import REPO, run_cli, wait_for_file

SLOW_WF = """
slow:
  type: Workflow
  params: {{seconds: {{type: int, default: 0}}}}
  jobs:
    j:
      stages:
        - {{id: s, bash: 'echo $$ > {started}.pid; touch {started}; exec sleep ${{{{ params.seconds }}}}'}}
"""
DEAD_PID = 2**22 + 777
T0 = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture
def store(audit_url: str, monkeypatch: pytest.MonkeyPatch, open_backend) -> AuditBackend:
    monkeypatch.setenv("RUNWRIGHT_AUDIT_URL", audit_url)
    return open_backend(audit_url)


def dead_record(run_id: str, **fields) -> ReleaseRecord:
    return ReleaseRecord(**{"workflow": "slow", "release": T0, "run_id": run_id, "pid": DEAD_PID, **fields})


def test_audit_list_marks_a_killed_run_crashed(
    store: AuditBackend, conf: Callable[..., Path], tmp_path: Path
) -> None:
    started = tmp_path / "started"
    folder = conf(SLOW_WF.format(started=started))
    runner = subprocess.Popen(
        [sys.executable, "-m", "runwright", "run", "slow", "-p", "seconds=60", "--conf", str(folder)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO, env=dict(os.environ),
    )  # fmt: skip
    try:
        assert wait_for_file(started, timeout=60)
        runner.send_signal(signal.SIGKILL)
        runner.wait(timeout=10)
    finally:
        runner.kill()
        stage = Path(f"{started}.pid")
        if stage.exists():  # the stage's sleep outlives a SIGKILLed runner: end it here
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(stage.read_text().strip()), signal.SIGKILL)
    [record] = store.list(workflow="slow")
    assert record.status is ReleaseStatus.RUNNING  # what the killed process left behind

    listed = run_cli("audit", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    [shown] = json.loads(listed.stdout)
    assert shown["status"] == "CRASHED" and "process is gone" in shown["errors"][-1]["message"]
    assert store.get(record.run_id).status is ReleaseStatus.CRASHED  # type: ignore[union-attr]
    running = run_cli("audit", "list", "--status", "RUNNING")
    assert running.returncode == 0 and running.stdout == ""


def test_audit_show_marks_dead_and_stale_runs_crashed_and_leaves_live_ones(store: AuditBackend) -> None:
    assert store.claim(dead_record("dead-here"))
    stale = datetime.now(UTC) - timedelta(minutes=30)
    assert store.claim(dead_record("stale-far", attempt=2, host="other-host", pid=1, heartbeat=stale))
    assert store.claim(dead_record("alive-far", attempt=3, host="other-host", pid=1))
    assert store.claim(dead_record("alive-here", attempt=4, pid=os.getpid()))

    for run_id, status, reason in [
        ("dead-here", "CRASHED", "process is gone"),
        ("stale-far", "CRASHED", "no heartbeat since"),
        ("alive-far", "RUNNING", None),
        ("alive-here", "RUNNING", None),
    ]:
        shown = run_cli("audit", "show", run_id)
        assert shown.returncode == 0, shown.stderr
        record = json.loads(shown.stdout)
        assert record["status"] == status, run_id
        if reason:
            assert reason in record["errors"][-1]["message"]
        assert store.get(run_id).status.value == status  # type: ignore[union-attr]


def test_run_marks_the_dead_runs_of_its_workflow_crashed(
    store: AuditBackend, conf: Callable[..., Path], tmp_path: Path
) -> None:
    folder = conf(SLOW_WF.format(started=tmp_path / "started"))
    assert store.claim(dead_record("dead-slow"))
    assert store.claim(ReleaseRecord(workflow="other", release=T0, run_id="dead-other", pid=DEAD_PID))
    ran = run_cli("run", "slow", "--conf", str(folder))
    assert ran.returncode == 0, ran.stderr
    assert store.get("dead-slow").status is ReleaseStatus.CRASHED  # type: ignore[union-attr]
    assert store.get("dead-other").status is ReleaseStatus.RUNNING  # type: ignore[union-attr]


def test_backfill_is_not_blocked_by_an_attempt_a_killed_process_left_running(
    store: AuditBackend, conf: Callable[..., Path], tmp_path: Path
) -> None:
    folder = conf(
        SLOW_WF.format(started=tmp_path / "started").replace(
            "  params:", '  on: [{cronjob: "0 0 * * *"}]\n  params:'
        )
    )
    assert store.claim(dead_record("left-running", type="backfill"))
    filled = run_cli(
        "backfill", "slow", "--start", T0.isoformat(), "--end", T0.isoformat(), "--conf", str(folder)
    )
    assert filled.returncode == 0, filled.stderr
    statuses = [(r.attempt, r.status) for r in store.attempts("slow", T0)]
    assert statuses == [(1, ReleaseStatus.CRASHED), (2, ReleaseStatus.SUCCESS)]
