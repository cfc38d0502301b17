"""A SIGKILLed ``runwright run`` leaves none of its stages' processes running: bash and what it
started (``setsid`` ones too), ``Popen`` children of a ``run:`` stage, the ``isolation: process``
child and its children are all gone shortly after the runner."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.conftest import REPO, run_cli, wait_for_file
from tests.test_stopping import kill_leftovers, processes_with, sleep_marker, wait_until

GONE_WITHIN_SECONDS = 10


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in {"Z", "X"}


def all_running(marks: dict[str, str]) -> Callable[[], bool]:
    """Whether a process carrying each marker runs: ``ready`` is touched before bash has
    started (forked and exec'd) every sleep, and a loaded machine shows the gap."""
    return lambda: all(processes_with(mark) for mark in marks.values())


def shell_job(marks: dict[str, str], ready: Path) -> str:
    """A job (YAML at the indent of ``conf``'s templates) whose bash stage starts a ``setsid``
    sleep and a plain one, each with its marker, touching ``ready`` in between."""
    return f"""        shell:
          stages:
            - id: s
              bash: |
                ( setsid sleep {marks["setsid"]} > /dev/null 2>&1 & )
                touch {ready}
                sleep {marks["plain"]}"""


def test_a_sigkilled_run_leaves_no_stage_process_running(conf, tmp_path: Path) -> None:
    marks = {name: sleep_marker() for name in ("setsid", "plain", "popen", "isolated")}
    ready = {name: tmp_path / f"{name}.ready" for name in ("bash", "popen", "isolated")}
    isolated_pid = tmp_path / "isolated.pid"
    folder = conf(f"""
    busy:
      type: Workflow
      jobs:
{shell_job(marks, ready["bash"])}
        python:
          stages:
            - id: s
              run: |
                import pathlib, subprocess, time
                subprocess.Popen(['sleep', '{marks["popen"]}'])
                pathlib.Path({str(ready["popen"])!r}).touch()
                time.sleep(300)
        isolated:
          stages:
            - id: s
              isolation: process
              run: |
                import os, pathlib, subprocess, time
                subprocess.Popen(['sleep', '{marks["isolated"]}'], start_new_session=True)
                pathlib.Path({str(isolated_pid)!r}).write_text(str(os.getpid()))
                pathlib.Path({str(ready["isolated"])!r}).touch()
                time.sleep(300)
    """)
    runner = subprocess.Popen(
        [sys.executable, "-m", "runwright", "run", "busy", "--conf", str(folder)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=REPO, env=dict(os.environ),
    )  # fmt: skip
    try:
        for name, path in ready.items():
            assert wait_for_file(path, timeout=60), f"stage {name} never started (runner: {runner.poll()})"
        assert wait_until(all_running(marks), 30)  # all started (bash execs them after `ready`)
        child = int(isolated_pid.read_text())
        assert alive(child)

        runner.send_signal(signal.SIGKILL)
        runner.wait(timeout=10)

        assert wait_until(
            lambda: not any(processes_with(mark) for mark in marks.values()), GONE_WITHIN_SECONDS
        ), {name: processes_with(mark) for name, mark in marks.items()}
        assert wait_until(lambda: not alive(child), GONE_WITHIN_SECONDS)
    finally:
        runner.kill()
        runner.wait(timeout=10)
        for mark in marks.values():
            kill_leftovers(mark)


def test_what_a_finished_stage_left_running_is_left_alone(conf, tmp_path: Path) -> None:
    """Only stages still running when their runner dies are ended: a process a finished stage
    started on purpose (``nohup ... &``) keeps running after a run that ended normally."""
    mark = sleep_marker()
    folder = conf(f"""
    daemon:
      type: Workflow
      jobs:
        j:
          stages:
            - id: s
              bash: 'nohup sleep {mark} > /dev/null 2>&1 &'
    """)
    try:
        ran = run_cli("run", "daemon", "--conf", str(folder))
        assert ran.returncode == 0, ran.stderr
        assert wait_until(lambda: bool(processes_with(mark)), 5)
        assert not wait_until(lambda: not processes_with(mark), 2)  # still there after the runner's exit
    finally:
        kill_leftovers(mark)


def test_the_watchdog_never_stops_a_process_that_reuses_a_registered_pid() -> None:
    """A root is registered with its start time: another process with that pid is spared."""
    from runwright.engine.process_tree import _Registry, start_time

    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        started = start_time(sleeper.pid)
        assert started is not None
        reused = _Registry()
        reused.feed(f"+ stage - {sleeper.pid} {started - 1}\n".encode())
        reused.stop_all()
        assert sleeper.poll() is None  # not the process that was registered: left alone
        registered = _Registry()
        registered.feed(f"+ stage - {sleeper.pid} {started}\n".encode())
        registered.stop_all()
        assert sleeper.wait(timeout=10) == -signal.SIGTERM
    finally:
        sleeper.kill()
        sleeper.wait()


def watchdog_of(pid: int) -> int | None:
    """The watchdog process ``pid`` started (a child running ``process_tree.py``)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat[1]) == pid and b"process_tree.py" in cmdline:
            return int(entry.name)
    return None


def test_stages_of_a_runner_killed_with_its_watchdog_are_stopped_at_the_next_start(
    conf, tmp_path: Path
) -> None:
    """The second line: the run's folder names its running stages' marks, and the next runwright
    start, which removes a dead process's run folders, first stops what carries those marks."""
    marks = {name: sleep_marker() for name in ("setsid", "plain")}
    ready = tmp_path / "ready"
    folder = conf(f"""
    busy:
      type: Workflow
      jobs:
{shell_job(marks, ready)}
    quick:
      type: Workflow
      jobs:
        j: {{stages: [{{id: s, echo: quick}}]}}
    """)
    temp_root = tmp_path / "tmp"
    temp_root.mkdir()
    env = {**os.environ, "TMPDIR": str(temp_root)}
    runner = subprocess.Popen(
        [sys.executable, "-m", "runwright", "run", "busy", "--conf", str(folder)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO, env=env,
    )  # fmt: skip
    try:
        assert wait_for_file(ready, timeout=60)
        assert wait_until(all_running(marks), 30)  # bash starts the plain sleep after `ready`
        watchdog = watchdog_of(runner.pid)
        assert watchdog is not None
        os.kill(watchdog, signal.SIGKILL)
        assert wait_until(lambda: not alive(watchdog), 10)
        runner.send_signal(signal.SIGKILL)
        runner.wait(timeout=10)
        assert all(processes_with(mark) for mark in marks.values())  # nothing left to stop them yet

        ran = run_cli("run", "quick", "--conf", str(folder), env={"TMPDIR": str(temp_root)})
        assert ran.returncode == 0, ran.stderr
        assert wait_until(
            lambda: not any(processes_with(mark) for mark in marks.values()), GONE_WITHIN_SECONDS
        )
        assert not list(temp_root.glob("runwright-*"))
    finally:
        runner.kill()
        runner.wait(timeout=10)
        for mark in marks.values():
            kill_leftovers(mark)
