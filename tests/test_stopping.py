"""Every stage can be stopped: nothing a cancelled or timed-out stage started is left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

from runwright.engine.context import sweep_stale_run_dirs

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
