"""Stopping a stage: its Python code, and every process it started, within :data:`STOP_SECONDS`.

Python code of ``run:`` and call stages runs in a worker thread that the stage's thread watches.
When the stage's scope is cancelled (Ctrl-C, SIGTERM, fail-fast) or its deadline passes:

1. the processes the worker started are stopped (SIGTERM, then SIGKILL after
   :data:`TERMINATE_GRACE_SECONDS`), with their descendants, the process groups and sessions they
   lead, and any process carrying the stage's marker in its environment. ``subprocess`` is
   watched for the worker thread (:func:`track_processes`); the tree is read from ``/proc``
   (:mod:`runwright.engine.process_tree`).
2. :class:`StageInterrupted` is raised in the worker thread (``PyThreadState_SetAsyncExc``),
   repeatedly, so a ``while True: pass`` loop ends.

Python cannot interrupt a thread blocked inside one C call (``time.sleep(300)``, a socket read
without timeout): such a thread ends when that call returns. Stages that must be hard-killable
use ``isolation: process`` (:mod:`runwright.stages.isolation`).

While a stage runs, its processes are also registered with this process's watchdog
(:data:`runwright.engine.process_tree.WATCHDOG`), which stops them if this process is killed.
"""

from __future__ import annotations

import contextvars
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

from runwright.console import StageOutput
from runwright.engine.process_tree import (
    STAGE_MARK_VARIABLE,
    TERMINATE_GRACE_SECONDS,
    WATCHDOG,
    kill_processes,
    new_stage_key,
    stage_processes,
    stop_processes,
)
from runwright.errors import RunCancelled, StageTimeout

if TYPE_CHECKING:
    from runwright.engine.context import StageContext

STOP_SECONDS = 2.0
"""A stopped stage's thread and processes are gone within this time (blocking C calls aside)."""

T = TypeVar("T")


class StageInterrupted(BaseException):
    """Raised asynchronously in a stage's worker thread to stop its Python code.

    A ``BaseException``, so ``except Exception`` in stage code does not swallow it.
    """


# -- a child process a stage starts itself (bash, isolated or venv Python) -----------------


@dataclass(frozen=True)
class ProcessOutcome:
    """How a stage's child process ended: its exit code, what it printed, whether it was stopped."""

    returncode: int
    stdout: str
    stderr: str
    stopped: bool


def run_stage_process(
    command: list[str], ctx: StageContext, *, cwd: Path, env: dict[str, str], echo: bool = True
) -> ProcessOutcome:
    """Run one child of a stage until it ends, or stop it (and all it started) on cancel/deadline.

    The child gets its own session and a unique :data:`STAGE_MARK_VARIABLE`, so a stop finds its
    descendants, the sessions it made and the orphans it left. While it runs, the mark and its
    pid are with this process's watchdog, and the mark is in the run's folder
    (:meth:`runwright.engine.context.RunState.stage_mark_recorded`): a SIGKILL of this process
    does not leave them running. Its stdout/stderr are read line by line, into the trace as
    ``stdout``/``stderr`` events unless ``echo`` is false. In a traced run the child gets the
    stage's W3C trace context as ``TRACEPARENT``.
    """
    mark = env[STAGE_MARK_VARIABLE] = uuid.uuid4().hex
    traceparent = ctx.traceparent()
    if traceparent is not None:  # a traced run: the child's spans join the stage's trace
        env["TRACEPARENT"] = traceparent
    with ctx.run.stage_mark_recorded(mark):  # a later start stops it, should all else fail
        process = subprocess.Popen(  # noqa: S603 - argv chosen by the stage kind, never a shell string
            command,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        WATCHDOG.register(mark, mark, [process.pid])  # stopped should this process die
        try:
            return _follow_stage_process(process, mark, ctx, echo)
        finally:
            WATCHDOG.unregister(mark)


def _follow_stage_process(
    process: subprocess.Popen[str], mark: str, ctx: StageContext, echo: bool
) -> ProcessOutcome:
    stdout: list[str] = []
    stderr: list[str] = []
    readers = [
        threading.Thread(target=_pump, args=(stream, sink, ctx, event if echo else None), daemon=True)
        for stream, sink, event in ((process.stdout, stdout, "stdout"), (process.stderr, stderr, "stderr"))
    ]
    for reader in readers:
        reader.start()
    stopped = False
    while True:
        try:
            process.wait(timeout=wait_step(ctx))
            break
        except subprocess.TimeoutExpired:
            pass
        if cancelled_or_late(ctx):
            stop_processes([process.pid], mark)
            try:
                process.wait(timeout=TERMINATE_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            stopped = True
            break
    for reader in readers:
        reader.join(timeout=5)
    return ProcessOutcome(process.returncode, "".join(stdout), "".join(stderr), stopped)


def _pump(stream: IO[str] | None, sink: list[str], ctx: StageContext, event: str | None) -> None:
    if stream is None:
        return
    for line in stream:
        sink.append(line)
        if event is not None:
            ctx.log(line.rstrip("\n"), event=event)
    stream.close()


# -- processes started by a stage's Python code ---------------------------------------------


class ProcessTracker:
    """The pids of the processes ``subprocess`` started from one stage's worker thread, each
    also told to the watchdog until :meth:`close` (the stage is over)."""

    def __init__(self) -> None:
        self.pids: set[int] = set()
        self.key = new_stage_key()
        self._lock = threading.Lock()

    def add(self, pid: int) -> None:
        with self._lock:
            self.pids.add(pid)
        WATCHDOG.register(self.key, None, [pid])

    def close(self) -> None:
        WATCHDOG.unregister(self.key)

    def snapshot(self) -> set[int]:
        with self._lock:
            return set(self.pids)


_trackers: dict[int, ProcessTracker] = {}
_install_lock = threading.Lock()
_installed = False


def _install_subprocess_hook() -> None:
    """Record every ``subprocess.Popen`` child started by a tracked thread (installed once)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        original = subprocess.Popen._execute_child  # type: ignore[attr-defined]

        def execute_child(self: subprocess.Popen[Any], *args: Any, **kwargs: Any) -> None:
            original(self, *args, **kwargs)
            tracker = _trackers.get(threading.get_ident())
            if tracker is not None:
                tracker.add(self.pid)

        subprocess.Popen._execute_child = execute_child  # type: ignore[attr-defined]
        _installed = True


def track_processes(tracker: ProcessTracker) -> Callable[[], None]:
    """Track the calling thread's subprocesses into ``tracker``; returns the undo."""
    _install_subprocess_hook()
    ident = threading.get_ident()
    _trackers[ident] = tracker
    return lambda: _trackers.pop(ident, None)


# -- the worker thread ----------------------------------------------------------------------


def _raise_in_thread(ident: int) -> None:
    import ctypes  # only when a stage is stopped

    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), ctypes.py_object(StageInterrupted))


def stopped_error(ctx: StageContext, label: str) -> Exception:
    """What a stopped stage raises: Timeout for its deadline, else the cancel reason."""
    if ctx.scope.reason == "timeout":
        return StageTimeout(ctx.scope.ran_past(f"stage '{label}'"))
    return RunCancelled(ctx.scope.reason or "cancelled")


def wait_step(ctx: StageContext) -> float:
    remaining = ctx.scope.remaining()
    return 0.05 if remaining is None else max(0.0, min(0.05, remaining))


def cancelled_or_late(ctx: StageContext) -> bool:
    """Whether the stage must stop now (cancelling its scope when its deadline has passed)."""
    if ctx.scope.past_deadline() and not ctx.scope.cancelled:
        ctx.scope.cancel("timeout")
    return ctx.scope.cancelled


def call_stoppable(func: Callable[[], T], ctx: StageContext, label: str) -> T:
    """Run ``func`` in a worker thread that a cancel or the deadline stops (see module doc)."""
    tracker = ProcessTracker()
    outcome: dict[str, Any] = {}
    done = threading.Event()
    finished_lock = threading.Lock()
    finished = [False]

    output = StageOutput(ctx.log)  # logging, sys.stderr, fd 1 and 2, os.system: its trace

    def work() -> None:
        untrack = track_processes(tracker)
        output.bind_current_thread()
        try:
            try:
                outcome["value"] = func()
            finally:
                with finished_lock:
                    finished[0] = True
        except StageInterrupted:
            outcome["interrupted"] = True
        except BaseException as exc:  # handed back to the stage's thread
            outcome["error"] = exc
        finally:
            untrack()
            done.set()

    def guarded() -> None:
        try:
            work()
        except StageInterrupted:  # arrived after the work was over: nothing left to stop
            done.set()

    context = contextvars.copy_context()  # the stage's trace context reaches the call's thread
    worker = threading.Thread(
        target=context.run, args=(guarded,), name=f"runwright-stage-{label}", daemon=True
    )
    output.start()
    stopped = False
    try:
        worker.start()
        while not done.wait(wait_step(ctx)):
            if cancelled_or_late(ctx):
                _stop_worker(worker, tracker, done, finished_lock, finished, ctx)
                stopped = True
                break
    finally:
        tracker.close()
        output.stop()
    if "value" in outcome and not outcome.get("interrupted"):
        return outcome["value"]
    if "error" in outcome and not stopped:
        raise outcome["error"]
    raise stopped_error(ctx, label)


def _stop_worker(
    worker: threading.Thread,
    tracker: ProcessTracker,
    done: threading.Event,
    finished_lock: threading.Lock,
    finished: list[bool],
    ctx: StageContext,
) -> None:
    started = time.monotonic()
    signal_to_send = signal.SIGTERM
    while not done.is_set() and time.monotonic() - started < STOP_SECONDS:
        if time.monotonic() - started >= TERMINATE_GRACE_SECONDS / 2:
            signal_to_send = signal.SIGKILL
        kill_processes(stage_processes(tracker.snapshot()), signal_to_send)
        with finished_lock:
            if not finished[0] and worker.ident is not None:
                _raise_in_thread(worker.ident)
        done.wait(0.05)
    kill_processes(stage_processes(tracker.snapshot()), signal.SIGKILL)
    if not done.is_set():
        ctx.log(
            "the stage's Python code is blocked in a call that cannot be interrupted; its thread "
            "ends when that call returns (use 'isolation: process' to make it killable)",
            event="warning",
        )
