"""Every stage can be stopped: nothing a cancelled or timed-out stage started is left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from runwright import Workflow
from runwright.config import Settings
from runwright.engine.context import sweep_stale_run_dirs
from runwright.plugins import get_plugin_manager
from runwright.runtime import Runtime

from tests.conftest import REPO, run_cli, wait_for_file


def processes_with(marker: str) -> list[int]:
    """Pids whose command line contains ``marker`` (read from /proc, no pgrep races)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[-1].split()[0]
        except OSError:
            continue
        if marker in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


def kill_leftovers(marker: str) -> None:
    for pid in processes_with(marker):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_run_folders_of_a_killed_process_are_swept_at_the_next_start(conf, tmp_path: Path) -> None:
    folder = conf(f"""
    slow:
      type: Workflow
      jobs:
        j:
          stages:
            - id: s
              bash: |
                touch {tmp_path}/started
                sleep 30
    quick:
      type: Workflow
      jobs:
        j:
          stages:
            - id: s
              bash: echo quick
    """)
    temp_root = tmp_path / "tmp"
    temp_root.mkdir()
    unrelated = temp_root / "runwright-not-ours"
    unrelated.mkdir()
    env = {**os.environ, "TMPDIR": str(temp_root)}
    victim = subprocess.Popen(
        [sys.executable, "-m", "runwright", "run", "slow", "--conf", str(folder)],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert wait_for_file(tmp_path / "started", timeout=30)
        left = [p for p in temp_root.glob("runwright-*") if p != unrelated]
        assert len(left) == 1
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
    finally:
        victim.kill()
        victim.wait(timeout=10)
        kill_leftovers(str(left[0]) if left else "never-matches")
    assert left[0].exists()  # SIGKILL gave the run no chance to clean up
    result = run_cli("run", "quick", "--conf", str(folder), env={"TMPDIR": str(temp_root)})
    assert result.returncode == 0, result.stderr
    assert not left[0].exists()
    assert unrelated.exists()  # no owner recorded: not ours to remove


def test_the_sweep_keeps_folders_of_live_processes(tmp_path: Path) -> None:
    alive = tmp_path / f"runwright-x-pid{os.getpid()}-abc"
    alive.mkdir()
    sleeper = subprocess.Popen(["sleep", "30"])
    other_alive = tmp_path / "runwright-y-pid1-abc"
    other_alive.mkdir()
    (other_alive / ".owner").write_text(f"{sleeper.pid} \n")
    dead_pid = subprocess.Popen(["true"])
    dead_pid.wait()
    dead = tmp_path / f"runwright-z-pid{dead_pid.pid}-abc"
    dead.mkdir()
    try:
        removed = sweep_stale_run_dirs(tmp_path)
    finally:
        sleeper.kill()
        sleeper.wait()
    assert removed == [dead]
    assert alive.exists() and other_alive.exists() and not dead.exists()


def sleep_marker() -> str:
    """A ``sleep`` argument no other process has: ``312.<random digits>`` seconds."""
    return f"312.{uuid.uuid4().int % 10**12:012d}"


def wait_until(predicate, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def stage_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("runwright-stage-") and t.is_alive()]


@pytest.fixture
def sleeping_call_registry(tmp_path: Path) -> dict[str, str]:
    """A registry package whose call function waits on a child ``sleep``."""
    package = tmp_path / "pkgs" / "stop_registry"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "waits.py").write_text(
        "import subprocess\nfrom runwright import tag\n\n"
        "@tag('v1')\ndef wait_on_sleep(seconds: str) -> dict:\n"
        "    subprocess.run(['sleep', seconds])\n    return {'slept': seconds}\n\n"
        "@tag('v1')\nasync def await_forever(flag: str) -> dict:\n    import asyncio, pathlib\n"
        "    pathlib.Path(flag + '.started').touch()\n    try:\n        await asyncio.sleep(300)\n"
        "    except asyncio.CancelledError:\n        pathlib.Path(flag).touch()\n        raise\n"
    )
    return {"PYTHONPATH": str(package.parent), "RUNWRIGHT_REGISTRY": "stop_registry,runwright_contrib"}


@pytest.mark.parametrize("kind", ["run", "uses"])
def test_sigterm_stops_a_python_stage_waiting_on_a_subprocess(
    conf, tmp_path: Path, kind: str, sleeping_call_registry: dict[str, str]
) -> None:
    marker = sleep_marker()
    stage = (
        f"run: |\n                import subprocess\n                subprocess.run(['sleep', '{marker}'])"
        if kind == "run"
        else f"uses: waits/wait-on-sleep@v1\n              with: {{seconds: '{marker}'}}"
    )
    folder = conf(f"""
    waits:
      type: Workflow
      jobs:
        j:
          stages:
            - id: s
              {stage}
    """)
    env = {**os.environ, **sleeping_call_registry}
    runner = subprocess.Popen(
        [sys.executable, "-m", "runwright", "run", "waits", "--conf", str(folder), "--json"],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert wait_until(lambda: processes_with(marker)), runner.stderr.read() if runner.poll() else ""
        runner.send_signal(signal.SIGTERM)
        stdout, _ = runner.communicate(timeout=20)
    finally:
        runner.kill()
        kill_leftovers(marker)
    assert runner.returncode == 1
    assert json.loads(stdout)["status"] == "CANCEL"
    assert not processes_with(marker)


def test_a_timed_out_busy_loop_leaves_no_thread_behind(workflow_from) -> None:
    wf = workflow_from("""
    spin:
      type: Workflow
      jobs:
        j:
          stages:
            - id: s
              timeout-minutes: 0.01
              run: |
                count = 0
                while True:
                    try:
                        count += 1
                    except Exception:
                        pass
    """)
    result = wf.execute()
    record = result.context["jobs"]["j"]["stages"]["s"]
    assert record["status"] == "FAILED"
    assert record["errors"][0]["name"] == "Timeout"
    assert wait_until(lambda: not stage_threads(), timeout=5), [t.name for t in stage_threads()]


def test_processes_started_by_a_timed_out_python_stage_are_killed(workflow_from) -> None:
    marker = sleep_marker()
    wf = workflow_from(f"""
    spawn:
      type: Workflow
      jobs:
        j:
          stages:
            - id: s
              timeout-minutes: 0.01
              run: |
                import subprocess, time
                child = subprocess.Popen(['sleep', '{marker}'], start_new_session=True)
                while True:
                    time.sleep(0.01)
    """)
    try:
        result = wf.execute()
        assert result.context["jobs"]["j"]["stages"]["s"]["errors"][0]["name"] == "Timeout"
        assert wait_until(lambda: not processes_with(marker), timeout=5)
        assert wait_until(lambda: not stage_threads(), timeout=5)
    finally:
        kill_leftovers(marker)


@pytest.mark.parametrize(
    "start_child",
    [
        "setsid sleep {marker} > /dev/null 2>&1 &",
        # the subshell exits at once, so the child leaves the stage's process tree and session:
        # only the stage mark in its environment finds it again
        "( setsid sleep {marker} > /dev/null 2>&1 & )",
    ],
    ids=["child", "orphan"],
)
def test_a_bash_stage_setsid_child_is_killed_on_timeout(workflow_from, start_child: str) -> None:
    marker = sleep_marker()
    wf = workflow_from(f"""
    daemonize:
      type: Workflow
      jobs:
        j:
          stages:
            - id: s
              timeout-minutes: 0.01
              bash: |
                {start_child.format(marker=marker)}
                sleep 30
    """)
    try:
        result = wf.execute()
        assert result.context["jobs"]["j"]["stages"]["s"]["errors"][0]["name"] == "Timeout"
        assert wait_until(lambda: not processes_with(marker), timeout=5), "the setsid child was left behind"
    finally:
        kill_leftovers(marker)


def test_isolation_process_is_killed_even_in_a_blocking_call(workflow_from, tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    wf = workflow_from(f"""
    hard:
      type: Workflow
      jobs:
        j:
          stages:
            - id: s
              isolation: process
              run: |
                import os, time
                open({str(pid_file)!r} + ".tmp", "w").write(str(os.getpid()))
                os.rename({str(pid_file)!r} + ".tmp", {str(pid_file)!r})
                time.sleep(300)
    """)
    handle = wf.start()
    assert wait_for_file(pid_file, timeout=30)
    handle.cancel()
    result = handle.result(timeout=20)
    assert result.context["jobs"]["j"]["stages"]["s"]["status"] == "CANCEL"
    pid = int(pid_file.read_text())
    assert pid != os.getpid()
    assert wait_until(lambda: not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text())


def test_isolation_process_stops_at_its_timeout(workflow_from) -> None:
    wf = workflow_from("""
    hard-timeout:
      type: Workflow
      jobs:
        j:
          stages:
            - id: s
              isolation: process
              timeout-minutes: 0.01
              run: |
                import time
                time.sleep(300)
    """)
    result = wf.execute()
    assert result.context["jobs"]["j"]["stages"]["s"]["errors"][0]["name"] == "Timeout"


def test_isolation_process_returns_outputs_as_json_and_reports_errors(workflow_from) -> None:
    wf = workflow_from("""
    iso:
      type: Workflow
      params:
        n: int
      jobs:
        j:
          stages:
            - id: ok
              isolation: process
              vars: {base: 10}
              run: |
                import os
                total = base + ${{ params.n }}
                names = ["a", "b"]
                pid = os.getpid()
                print("total is", total)
            - id: bad
              isolation: process
              run: raise ValueError("no good")
    """)
    result = wf.execute({"n": 5})
    stages = result.context["jobs"]["j"]["stages"]
    outputs = stages["ok"]["outputs"]
    assert outputs["total"] == 15 and outputs["names"] == ["a", "b"]
    assert outputs["pid"] != os.getpid()
    assert stages["bad"]["errors"][0] == {"job": "j", "stage": "bad", "name": "ValueError", "message": "no good"}


def test_cancel_stops_an_async_call_and_cancels_its_task(
    conf, tmp_path: Path, sleeping_call_registry: dict[str, str], monkeypatch
) -> None:
    monkeypatch.syspath_prepend(sleeping_call_registry["PYTHONPATH"])
    monkeypatch.setenv("RUNWRIGHT_REGISTRY", sleeping_call_registry["RUNWRIGHT_REGISTRY"])
    flag = tmp_path / "task-cancelled"
    folder = conf(f"""
    awaits:
      type: Workflow
      jobs:
        j:
          stages:
            - id: s
              uses: waits/await-forever@v1
              with: {{flag: {str(flag)!r}}}
    """)
    settings = Settings.from_env()
    wf = Workflow.from_conf("awaits", folder, runtime=Runtime(get_plugin_manager(settings), settings))
    handle = wf.start()
    assert wait_for_file(Path(f"{flag}.started"), timeout=20)
    handle.cancel()
    result = handle.result(timeout=20)
    assert result.context["jobs"]["j"]["stages"]["s"]["status"] == "CANCEL"
    assert wait_for_file(flag, timeout=5)
    sys.modules.pop("stop_registry", None)
    sys.modules.pop("stop_registry.waits", None)
