"""``runwright serve --workers N``: runs execute in worker processes, and a dying worker never
leaves a run RUNNING."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from runwright.config import Settings
from runwright_api.workers import WorkerPool, WorkersUnavailable

from tests.api.conftest import CONF, WORKER_MODES, Server, start_server, stop_server

PID_CONF = (
    CONF
    + """
whoami:
  type: Workflow
  desc: Says which process ran its bash stage, then waits for the marker's removal.
  params:
    file: str
    seconds: {type: int, default: 0}
  jobs:
    tell:
      stages:
        - id: pid
          bash: 'echo "runner=$PPID" >> "$RUNWRIGHT_OUTPUT"; echo "$PPID $$" > "${{ params.file }}"; exec sleep ${{ params.seconds }}'
"""
)


def parent_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as stat:
        return int(stat.read().rsplit(")", 1)[1].split()[1])


@WORKER_MODES
def test_runs_execute_in_a_worker_process_with_workers_else_in_the_server(
    tmp_path: Path, workers: int
) -> None:
    running = start_server(tmp_path, extra_args=("--workers", str(workers)), conf_text=PID_CONF)
    try:
        assert running.banner.endswith("(runs in 1 worker process)" if workers else "(runs on the server's threads)")
        run_id = running.trigger("whoami", {"file": str(tmp_path / "pids")})
        run = running.wait_status(run_id)
        assert run["status"] == "SUCCESS", run
        runner = int(run["context"]["jobs"]["tell"]["stages"]["pid"]["outputs"]["runner"])
        if workers:
            assert runner != running.process.pid
            assert parent_of(runner) == running.process.pid  # a worker the server started
        else:
            assert runner == running.process.pid
    finally:
        stop_server(running)


def start_a_long_run(running: Server, marker: Path) -> tuple[str, int, int]:
    """Trigger a 60 s ``whoami`` run; once its stage runs: (run id, the worker's pid, the stage's pid)."""
    run_id = running.trigger("whoami", {"file": str(marker), "seconds": 60})
    deadline = time.monotonic() + 30
    while not marker.exists() or not marker.read_text().strip():
        assert time.monotonic() < deadline, "the stage never started"
        time.sleep(0.05)
    worker_pid, stage_pid = map(int, marker.read_text().split())
    return run_id, worker_pid, stage_pid


def test_a_killed_worker_marks_its_run_crashed_and_a_new_worker_takes_over(tmp_path: Path) -> None:
    running = start_server(tmp_path, extra_args=("--workers", "1"), conf_text=PID_CONF)
    marker = tmp_path / "pids"
    try:
        run_id, worker_pid, stage_pid = start_a_long_run(running, marker)
        os.kill(worker_pid, signal.SIGKILL)
        os.kill(stage_pid, signal.SIGKILL)  # the orphaned sleep, so nothing outlives the test

        run = running.wait_status(run_id)
        assert run["status"] == "CRASHED", run
        message = " ".join(error["message"] for error in run["errors"])
        assert f"the worker process running it (pid {worker_pid}) was killed by SIGKILL" in message

        marker.unlink()
        after = running.wait_status(running.trigger("whoami", {"file": str(marker)}))
        assert after["status"] == "SUCCESS", after
        new_worker = int(after["context"]["jobs"]["tell"]["stages"]["pid"]["outputs"]["runner"])
        assert new_worker != worker_pid and parent_of(new_worker) == running.process.pid

        metrics = running.client.get(running.api("/metrics")).text
        assert 'runwright_runs_total{status="CRASHED"} 1' in metrics
        assert "runwright_active_runs 0" in metrics
        assert "runwright_workers 1" in metrics and "runwright_worker_restarts_total 1" in metrics
    finally:
        stop_server(running)


def test_a_killed_worker_leaves_none_of_its_stage_processes_running(tmp_path: Path) -> None:
    """The stage's bash, its plain child and its ``setsid`` child end with the SIGKILLed worker."""
    daemon_pid = tmp_path / "setsid.pid"
    conf_text = PID_CONF.replace(
        "        - id: pid\n          bash: '",
        f"        - id: pid\n          bash: '( setsid bash -c \"echo \\$$ > {daemon_pid}; exec sleep 300\" & ); ",
    )
    running = start_server(tmp_path, extra_args=("--workers", "1"), conf_text=conf_text)
    marker = tmp_path / "pids"
    stage_pid = setsid_pid = 0
    try:
        run_id, worker_pid, stage_pid = start_a_long_run(running, marker)
        deadline = time.monotonic() + 30
        while not daemon_pid.exists() or not daemon_pid.read_text().strip():
            assert time.monotonic() < deadline, "the setsid child never started"
            time.sleep(0.05)
        setsid_pid = int(daemon_pid.read_text())
        assert not is_gone(stage_pid) and not is_gone(setsid_pid)
        os.kill(worker_pid, signal.SIGKILL)

        deadline = time.monotonic() + 10
        while not (is_gone(stage_pid) and is_gone(setsid_pid)):
            assert time.monotonic() < deadline, "a stage process outlived its worker"
            time.sleep(0.1)
        assert running.wait_status(run_id)["status"] == "CRASHED"
    finally:
        stop_server(running)
        for pid in (stage_pid, setsid_pid):  # should the test fail, nothing outlives it
            if pid and not is_gone(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_worker_that_cannot_start_says_why(tmp_path: Path) -> None:
    with pytest.raises(WorkersUnavailable) as raised:
        WorkerPool(
            1,
            conf_path=tmp_path,
            settings=Settings.from_env(),
            audit=SimpleNamespace(url="nosuch:///nowhere"),  # type: ignore[arg-type]
        )
    assert "a worker process could not start" in str(raised.value)
    assert "no audit backend for 'nosuch:///nowhere'" in str(raised.value)


def test_workers_of_a_killed_server_cancel_and_record_their_runs(tmp_path: Path) -> None:
    running = start_server(tmp_path, extra_args=("--workers", "1"), conf_text=PID_CONF)
    marker = tmp_path / "pids"
    try:
        run_id, worker_pid, _ = start_a_long_run(running, marker)
        running.process.kill()  # the server dies without a word to its worker
        running.process.wait(timeout=10)

        from runwright.audit import make_audit_backend

        store = make_audit_backend(f"file://{tmp_path / 'audits'}")
        deadline = time.monotonic() + 30
        while (record := store.get(run_id)) is not None and record.status.value == "RUNNING":
            assert time.monotonic() < deadline, "the worker never recorded the run"
            time.sleep(0.1)
        assert record is not None and record.status.value == "CANCEL", record
        deadline = time.monotonic() + 15
        while not is_gone(worker_pid):
            assert time.monotonic() < deadline, "the worker outlived its server"
            time.sleep(0.1)
    finally:
        stop_server(running)


def is_gone(pid: int) -> bool:
    """No such process, or a zombie nobody reaps yet."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_a_worker_that_cannot_be_replaced_turns_healthz_503_and_refuses_runs_with_why(tmp_path: Path) -> None:
    import threading

    import httpx
    import uvicorn
    from runwright.audit import make_audit_backend
    from runwright_api.app import create_app
    from runwright_api.service import RunService

    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "flows.yml").write_text(PID_CONF, encoding="utf-8")
    audit = make_audit_backend(f"sqlite:///{tmp_path / 'audit.db'}")
    service = RunService(conf, audit=audit, workers=1, grace_seconds=1)
    server = uvicorn.Server(uvicorn.Config(create_app(service), host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
            time.sleep(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}/api/v1", timeout=30)
        assert client.get("/healthz").json()["status"] == "ok"

        audit.url = "nosuch:///gone"  # what the next worker is told to open: it cannot start
        assert service.workers is not None
        os.kill(service.workers.workers[0].process.pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while (health := client.get("/healthz")).status_code == 200:
            assert time.monotonic() < deadline, "healthz never said the workers are gone"
            time.sleep(0.1)
        assert health.status_code == 503
        assert health.json()["status"] == "broken"
        assert "no audit backend for 'nosuch:///gone'" in health.json()["detail"]

        refused = client.post("/workflows/whoami/runs", json={"params": {"file": str(tmp_path / "p")}})
        assert refused.status_code == 409
        assert "no audit backend for 'nosuch:///gone'" in refused.json()["detail"]
        [record] = audit.list(workflow="whoami")
        assert record.status.value == "CRASHED"  # claimed, then refused: never left RUNNING
        client.close()
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def test_a_runtime_built_in_this_process_cannot_go_to_workers(tmp_path: Path) -> None:
    from runwright.runtime import Runtime
    from runwright_api.service import RunService

    with pytest.raises(ValueError, match="worker processes build their runtime from the environment"):
        RunService(tmp_path, runtime=Runtime(), workers=1)


SCHEDULED = """
ticker:
  type: Workflow
  on: {schedule: [{cronjob: "* * * * *", timezone: UTC}]}
  jobs:
    j:
      stages:
        - {id: s, bash: 'echo "runner=$PPID" >> "$RUNWRIGHT_OUTPUT"'}
follower:
  type: Workflow
  on: {release: [ticker]}
  jobs:
    j:
      stages:
        - {id: s, bash: 'echo "runner=$PPID" >> "$RUNWRIGHT_OUTPUT"; echo "after=${{ release.upstream.run_id }}" >> "$RUNWRIGHT_OUTPUT"'}
"""


def test_the_in_process_scheduler_runs_its_releases_and_their_followers_in_workers(tmp_path: Path) -> None:
    """``serve --scheduler`` with workers: a scheduled release, and the workflow released after
    it (``on: release``), run in the worker, not in the server; each is counted once."""
    from datetime import UTC, datetime, timedelta

    from runwright.audit import make_audit_backend
    from runwright.schedule.clock import SimulatedClock
    from runwright.schedule.scheduler import Scheduler
    from runwright_api.metrics import prometheus_text
    from runwright_api.service import RunService

    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "flows.yml").write_text(SCHEDULED, encoding="utf-8")
    audit = make_audit_backend(f"sqlite:///{tmp_path / 'audit.db'}")
    service = RunService(conf, audit=audit, workers=1, grace_seconds=1)
    t0 = datetime(2026, 3, 2, 9, 0, 30, tzinfo=UTC)
    scheduler = Scheduler(conf, audit=audit, clock=SimulatedClock(t0), runner=service._run_claimed_in_worker)
    scheduler.outcome_listeners.append(service._observe_scheduled)
    try:
        outcomes = scheduler.run(until=t0 + timedelta(minutes=2))
        assert service.workers is not None
        worker_pid = service.workers.workers[0].process.pid
    finally:
        service.shutdown(1)
    assert sorted((o.workflow, o.status) for o in outcomes) == [("follower", "SUCCESS")] * 2 + [
        ("ticker", "SUCCESS")
    ] * 2
    for outcome in outcomes:
        assert outcome.record is not None
        outputs = outcome.record.context["jobs"]["j"]["stages"]["s"]["outputs"]
        assert int(outputs["runner"]) == worker_pid != os.getpid()
    tickers = {o.run_id for o in outcomes if o.workflow == "ticker"}
    assert {o.record.context["jobs"]["j"]["stages"]["s"]["outputs"]["after"] for o in outcomes if o.workflow == "follower"} == tickers  # type: ignore[union-attr]
    text = prometheus_text(service)
    assert 'runwright_runs_total{status="SUCCESS"} 4' in text  # counted once each
    assert "runwright_active_runs 0" in text


def test_a_stopping_scheduler_cancels_its_release_in_the_worker(tmp_path: Path) -> None:
    import threading
    from datetime import UTC, datetime, timedelta

    from runwright.audit import make_audit_backend
    from runwright.schedule.clock import SimulatedClock
    from runwright.schedule.scheduler import Scheduler
    from runwright_api.service import RunService

    marker = tmp_path / "started"
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "flows.yml").write_text(
        f"""
napper:
  type: Workflow
  on: {{schedule: [{{cronjob: "* * * * *", timezone: UTC}}]}}
  jobs:
    j:
      stages:
        - {{id: s, bash: 'touch {marker}; sleep 60'}}
""",
        encoding="utf-8",
    )
    audit = make_audit_backend(f"sqlite:///{tmp_path / 'audit.db'}")
    service = RunService(conf, audit=audit, workers=1, grace_seconds=1)
    t0 = datetime(2026, 3, 2, 9, 0, 30, tzinfo=UTC)
    scheduler = Scheduler(
        conf, audit=audit, clock=SimulatedClock(t0), runner=service._run_claimed_in_worker, grace_seconds=1
    )
    found: list = []
    thread = threading.Thread(target=lambda: found.extend(scheduler.run(until=t0 + timedelta(minutes=1))))
    try:
        thread.start()
        deadline = time.monotonic() + 30
        while not marker.exists():
            assert time.monotonic() < deadline, "the scheduled stage never started"
            time.sleep(0.05)
        scheduler.stop()
        thread.join(timeout=30)
        assert not thread.is_alive(), "the scheduler did not stop"
    finally:
        service.shutdown(1)
    [outcome] = found
    assert outcome.status == "CANCEL", outcome
    record = audit.get(outcome.run_id)
    assert record is not None and record.status.value == "CANCEL"
