"""Ctrl-C and SIGTERM cancel a run whatever the main thread is doing when they come.

A signal's Python handler runs in the main thread between two bytecodes: in the middle of a
line being written to stderr, of a cancel. Each of the first tests puts the main thread in one
of those places (holding the lock that place holds) and sends the signal there; a handler that
takes the same lock hangs the process for ever. The kernel may also hand the signal to another
thread while the main thread waits for the jobs: the last test. The whole `runwright run` with one
signal and with three is in tests/test_scheduler_processes.py.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from tests.conftest import REPO

SIGNAL_WHILE_HOLDING = """
import os, signal, sys, time
from runwright.console import install_console_streams
install_console_streams()
from runwright.cli.run import cancel_on_signals
from runwright.engine.context import CancelScope

scope = CancelScope()
held = {held}
with cancel_on_signals(scope):
    with held:  # the main thread is inside that code when the signal comes
        os.kill(os.getpid(), signal.SIGINT)
        deadline = time.monotonic() + 1
        while time.monotonic() < deadline:  # bytecodes run: Python calls the handler here
            pass
    scope.event.wait(20)
print("cancelled:", scope.reason, flush=True)
"""


@pytest.mark.parametrize(
    "held",
    [
        pytest.param("sys.stderr._lock", id="writing-a-line-to-stderr"),
        pytest.param("scope._lock", id="inside-the-run-scope"),
    ],
)
def test_a_signal_cancels_the_run_whatever_lock_the_main_thread_holds(held: str) -> None:
    code = SIGNAL_WHILE_HOLDING.format(held=held)
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "cancelled: interrupted by signal 2"
    assert "received signal 2: cancelling the run" in done.stderr


SIGNAL_TO_ANOTHER_THREAD = """
import concurrent.futures, signal, threading, time
from runwright.console import install_console_streams
install_console_streams()
from runwright.cli.run import cancel_on_signals
from runwright.engine.context import CancelScope

scope = CancelScope()

def job():
    time.sleep(1)  # by now the main thread is blocked in its wait
    signal.pthread_kill(threading.get_ident(), signal.SIGINT)  # the kernel gave it to this thread
    return scope.event.wait(20)  # a stage, running until cancelled

with cancel_on_signals(scope):
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        future = pool.submit(job)
        concurrent.futures.wait([future])  # the main thread waits for the job, as the runner does
print("stage cancelled:", future.result(), flush=True)
"""


def test_a_signal_another_thread_received_cancels_the_run_while_the_main_thread_waits() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SIGNAL_TO_ANOTHER_THREAD], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "stage cancelled: True"
