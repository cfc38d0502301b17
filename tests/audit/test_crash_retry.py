"""``retry-crashed: true``: a tick whose run was killed is retried exactly once by the restarted
scheduler, whoever marked the dead run CRASHED first (the scheduler, ``audit list``, ``audit
show`` or ``run``), on every store."""

from __future__ import annotations

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
from tests.test_scheduler_processes import CRASHY

T0 = datetime(2024, 1, 1, tzinfo=UTC)
TICK = T0 + timedelta(minutes=1)
WINDOW = (
    "--simulate-from", (T0 + timedelta(seconds=30)).isoformat(),
    "--until", (T0 + timedelta(minutes=1, seconds=30)).isoformat(),
    "--heartbeat-seconds", "0.2",
)  # fmt: skip


@pytest.fixture
def store(audit_url: str, monkeypatch: pytest.MonkeyPatch, open_backend) -> AuditBackend:
    monkeypatch.setenv("RUNWRIGHT_AUDIT_URL", audit_url)
    return open_backend(audit_url)


def scheduler(folder: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "runwright", "scheduler", "--conf", str(folder), *WINDOW],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ), cwd=REPO,
    )  # fmt: skip


def kill_scheduler_mid_run(folder: Path, started: Path, store: AuditBackend) -> str:
    """Start a scheduler, SIGKILL it while the tick's run is RUNNING; the run id it left."""
    victim = scheduler(folder)
    try:
        assert wait_for_file(started, timeout=60), victim.stderr.read() if victim.poll() is not None else ""
        [running] = store.list(workflow="crashy")
        assert running.status is ReleaseStatus.RUNNING and running.pid == victim.pid
    finally:
        victim.send_signal(signal.SIGKILL)  # its stage's sleep ends with it (its watchdog)
        victim.wait(timeout=10)
    return running.run_id


MARKERS: dict[str, Callable[[str, Path], list[str]]] = {
    "audit list": lambda run_id, folder: ["audit", "list", "--json"],
    "audit show": lambda run_id, folder: ["audit", "show", run_id],
    "run": lambda run_id, folder: ["run", "crashy", "--conf", str(folder)],
}


@pytest.mark.parametrize("marker", list(MARKERS))
def test_a_tick_marked_crashed_by_another_command_is_retried_once_by_the_restarted_scheduler(
    store: AuditBackend, conf: Callable[..., Path], tmp_path: Path, marker: str
) -> None:
    log, allow, started = tmp_path / "runs.log", tmp_path / "allow", tmp_path / "started"
    folder = conf(CRASHY.format(log=log, allow=allow, started=started))
    killed = kill_scheduler_mid_run(folder, started, store)
    allow.touch()

    marked = run_cli(*MARKERS[marker](killed, folder))
    assert marked.returncode == 0, marked.stderr
    assert store.get(killed).status is ReleaseStatus.CRASHED  # type: ignore[union-attr]

    restarted = [scheduler(folder), scheduler(folder)]  # two at once: still one retry
    for process in restarted:
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
    attempts = store.attempts("crashy", TICK)
    assert [(a.attempt, a.status.value) for a in attempts] == [(1, "CRASHED"), (2, "SUCCESS")]
    assert attempts[1].parent_run_id == killed
    assert attempts[1].type.value == "scheduled"
    assert log.read_text().split()[:1] + log.read_text().split()[-1:] == [killed, attempts[1].run_id]

    again = scheduler(folder)  # a later start: the tick was retried, it is not retried again
    _, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    assert len(store.attempts("crashy", TICK)) == 2


def crashed_record(run_id: str, **fields) -> ReleaseRecord:
    record = ReleaseRecord(
        **{"workflow": "crashy", "release": TICK, "type": "scheduled", "run_id": run_id, **fields}
    )
    return record.model_copy(update={"status": ReleaseStatus.CRASHED})


def test_what_the_scheduler_retries_is_the_latest_crashed_attempt_of_a_scheduled_tick(
    store: AuditBackend, conf: Callable[..., Path], tmp_path: Path
) -> None:
    """A tick whose crashed attempt was followed by another (a rerun that FAILED) is not retried,
    nor a crashed manual run; a crashed scheduled tick is, once."""
    from runwright.schedule.clock import SimulatedClock
    from runwright.schedule.scheduler import Scheduler

    folder = conf(CRASHY.format(log=tmp_path / "log", allow=tmp_path, started=tmp_path / "s"))
    rerun_failed = TICK - timedelta(minutes=1)
    assert store.claim(crashed_record("old-crash", release=rerun_failed))
    failed = crashed_record("old-rerun", release=rerun_failed, attempt=2, type="rerun")
    assert store.claim(failed.model_copy(update={"status": ReleaseStatus.FAILED}))
    assert store.claim(crashed_record("manual-crash", release=TICK - timedelta(minutes=2), type="manual"))
    assert store.claim(crashed_record("tick-crash"))

    scheduler = Scheduler(folder, audit=store, clock=SimulatedClock(TICK), heartbeat_seconds=0.2)
    scheduler.load(report=False)
    retried = scheduler.recover()
    assert [(o.logical_date, o.attempt, o.status) for o in retried] == [(TICK, 2, "SUCCESS")]
    assert store.attempts("crashy", TICK)[1].parent_run_id == "tick-crash"
    assert len(store.attempts("crashy", rerun_failed)) == 2
    assert len(store.attempts("crashy", TICK - timedelta(minutes=2))) == 1
    assert scheduler.recover() == []  # retried once: a second start finds nothing to do
