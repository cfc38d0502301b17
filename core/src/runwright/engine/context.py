"""What a running stage sees: its template variables, cancel scope, trace and temp dir."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
import time
import weakref
from collections import ChainMap
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runwright.masking import RunSecrets, mask

if TYPE_CHECKING:
    from runwright.engine.slots import SlotTaker
    from runwright.runtime import Runtime
    from runwright.trace import RunTrace, RunTracer


class CancelScope:
    """A cancel flag that cancels its children too, never its parent or siblings.

    The run has one scope; each job gets a child; each matrix strategy a grandchild. A failing
    strategy with ``fail-fast`` cancels its job's scope only.

    A parent holds its children weakly: a child lives as long as the run, job or stage using
    it, so a scope that lives for months (a scheduler's, a server's) never keeps the runs it
    started (a strong list kept every run's and every job's scope and event for ever).
    """

    def __init__(
        self, parent: CancelScope | None = None, deadline: float | None = None, limit: str = ""
    ) -> None:
        self.event = threading.Event()
        self.reason = ""
        self._children: weakref.WeakSet[CancelScope] = weakref.WeakSet()
        self._lock = threading.Lock()
        parent_deadline = parent.deadline if parent else None
        candidates = [d for d in (deadline, parent_deadline) if d is not None]
        self.deadline: float | None = min(candidates) if candidates else None
        own_limit_binds = deadline is not None and (parent_deadline is None or deadline <= parent_deadline)
        #: which ``timeout-minutes`` sets the deadline, said in a timeout's message
        self.limit: TimeLimit | None = limit if own_limit_binds else (parent.limit if parent else None)
        if parent is not None:
            with parent._lock:
                parent._children.add(self)
                if parent.event.is_set():
                    self.event.set()
                    self.reason = parent.reason

    def child(self, timeout_seconds: float | None = None, limit: TimeLimit | None = None) -> CancelScope:
        """A child scope; ``limit`` names the limit ``timeout_seconds`` comes from."""
        deadline = time.monotonic() + timeout_seconds if timeout_seconds else None
        return CancelScope(self, deadline, limit)

    def ran_past(self, what: str) -> str:
        """A timeout's message: what ran past which limit (``the timeout-minutes of job 'x' (0.5, 30 s)``)."""
        return f"{what} ran past {self.limit.named_for(what) if self.limit else 'its timeout'}"

    def cancel(self, reason: str = "cancelled") -> None:
        with self._lock:
            if not self.event.is_set():
                self.reason = reason
                self.event.set()
            children = list(self._children)
        for child in children:
            child.cancel(reason)

    @property
    def cancelled(self) -> bool:
        return self.event.is_set()

    def remaining(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.monotonic()

    def past_deadline(self) -> bool:
        """Whether the deadline (its own or an outer scope's) has passed: the stage watching
        its work and the run after a job it ran itself both ask."""
        return self.deadline is not None and time.monotonic() >= self.deadline


RUN_DIR_PREFIX = "runwright-"
OWNER_FILE = ".owner"
STAGE_MARKS_FOLDER = ".stage-marks"
"""In a run folder: one empty file per running stage process, named by its
``RUNWRIGHT_STAGE_MARK``, so a later start can stop what a killed process left running."""
_OWNER_IN_NAME = re.compile(r"-pid(\d+)-")


def process_start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot ("" when unknown): with the pid it
    names one process even after the pid is reused."""
    from runwright.engine.process_tree import start_time  # the stdlib-only reader of /proc

    started = start_time(pid)
    return "" if started is None else str(started)


def _owner_alive(pid: int, start_time: str) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: alive, and not ours to judge
    try:
        fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return True  # no /proc: trust kill(pid, 0)
    state, started = fields.rsplit(")", 1)[-1].split()[0], process_start_time(pid)
    return state not in {"Z", "X"} and (not start_time or started == start_time)


def sweep_stale_run_dirs(temp_root: Path | None = None) -> list[Path]:
    """Remove run folders whose owning process is gone (killed before it could clean up).

    Folders without an owner (made by older versions) are left alone. Returns what was removed.
    """
    root = Path(temp_root or tempfile.gettempdir())
    removed: list[Path] = []
    try:
        candidates = list(root.glob(f"{RUN_DIR_PREFIX}*"))
    except OSError:
        return removed
    for folder in candidates:
        try:
            owner = (folder / OWNER_FILE).read_text(encoding="utf-8").split()
        except OSError:
            match = _OWNER_IN_NAME.search(folder.name)
            owner = [match.group(1)] if match and folder.is_dir() else []
        if not owner or not owner[0].isdigit():
            continue
        pid, start_time = int(owner[0]), (owner[1] if len(owner) > 1 else "")
        if pid == os.getpid() or _owner_alive(pid, start_time):
            continue
        stop_marked_processes(folder)
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


def stop_marked_processes(folder: Path) -> None:
    """Stop the processes of the stages a dead process was running in ``folder`` (found by the
    marks it recorded; normally its watchdog has stopped them already)."""
    try:
        marks = [entry.name for entry in (folder / STAGE_MARKS_FOLDER).iterdir()]
    except OSError:
        return
    if marks:
        from runwright.engine.process_tree import stop_processes

        stop_processes([], marks)


@dataclass
class RunState:
    """Shared by every job and stage of one run."""

    runtime: Runtime
    run_id: str
    workflow: str
    trace: RunTrace
    scope: CancelScope
    trigger_chain: tuple[str, ...] = ()
    conf_path: Path | None = None
    previous: dict[str, Any] = field(default_factory=dict)
    release: dict[str, Any] = field(default_factory=dict)
    """The run's ``release`` context (models/release.py): a ``trigger:`` child inherits its dates."""
    source: Path | None = None
    """The template's file: run-time expression errors say file:line:col."""
    slots: SlotTaker | None = None
    """Keeps the jobs' and stages' concurrency groups and pools; None: not kept (no store)."""
    tracer: RunTracer | None = None
    """The ``make_run_tracer`` plugin's tracer of this run (None: no tracing plugin)."""
    secrets: RunSecrets = field(default_factory=RunSecrets)
    """The secrets this run registered: masked while the run (or its Result) lives, then released."""
    _tmp_dir: Path | None = None
    _tmp_lock: threading.Lock = field(default_factory=threading.Lock)
    _processes: set[Any] = field(default_factory=set)

    def tmp_dir(self) -> Path:
        """A private temporary directory for this run (scripts, output files), made on demand.

        Its name and its ``.owner`` file tell the owning process, so a later start can remove it
        if this process is killed before :meth:`cleanup` (:func:`sweep_stale_run_dirs`).
        """
        with self._tmp_lock:
            if self._tmp_dir is None:
                pid = os.getpid()
                folder = Path(tempfile.mkdtemp(prefix=f"{RUN_DIR_PREFIX}{self.run_id}-pid{pid}-"))
                (folder / OWNER_FILE).write_text(f"{pid} {process_start_time(pid)}\n", encoding="utf-8")
                self._tmp_dir = folder
            return self._tmp_dir

    @contextmanager
    def stage_mark_recorded(self, mark: str) -> Iterator[None]:
        """Record ``mark`` in this run's folder while a stage process carrying it runs."""
        marks = self.tmp_dir() / STAGE_MARKS_FOLDER
        marks.mkdir(exist_ok=True)
        (marks / mark).touch()
        try:
            yield
        finally:
            (marks / mark).unlink(missing_ok=True)

    def cleanup(self) -> None:
        if self._tmp_dir is not None:
            shutil.rmtree(self._tmp_dir, ignore_errors=True)


@dataclass
class StageContext:
    """The ``ctx`` passed to ``Stage.run``: render values, check cancel, log, get a temp dir."""

    run: RunState
    variables: dict[str, Any]
    scope: CancelScope
    job: str | None
    stage: str
    strategy: str | None = None

    @property
    def runtime(self) -> Runtime:
        return self.run.runtime

    @property
    def cancel_event(self) -> threading.Event:
        return self.scope.event

    def render(self, value: Any) -> Any:
        return self.run.runtime.expressions.render(value, self.variables)

    def log(self, message: str, event: str = "log", **extra: Any) -> None:
        self.run.trace.event(
            event,
            message,
            job=self.job,
            strategy=self.strategy,
            stage=self.stage,
            **extra,
        )

    def tmp_dir(self) -> Path:
        return self.run.tmp_dir()

    def mask(self, value: Any) -> Any:
        return mask(value)

    def remaining(self) -> float | None:
        return self.scope.remaining()

    def traceparent(self) -> str | None:
        """The stage's W3C trace context (``TRACEPARENT`` of its processes), when traced."""
        tracer = self.run.tracer
        return None if tracer is None else tracer.traceparent(self.job, self.strategy, self.stage)

    def logger(self) -> Callable[[str], None]:
        return lambda message: self.log(str(message))

    def run_stages(
        self,
        stages: list[Any],
        extra: dict[str, Any] | None = None,
        scope: CancelScope | None = None,
        prefix: str = "",
    ) -> NestedRun:
        """Run nested stages (a branch, an item, a loop) with extra template variables.

        The nested stages get their own ``stages`` namespace, nested lexically in the enclosing
        one (see :func:`nested_stages_scope`); their records are returned for the parent stage
        to put in its outputs.
        """
        from runwright.engine.stage_runner import run_stage_list

        results: dict[str, Any] = {}
        variables = dict(self.variables)
        if extra:
            variables.update(extra)
        variables["stages"] = nested_stages_scope(results, self.variables.get("stages"))
        status, errors = run_stage_list(
            self.run,
            stages,
            variables,
            results,
            scope or self.scope,
            self.job,
            self.strategy,
            prefix=f"{self.stage}/{prefix}" if prefix else self.stage,
        )
        return NestedRun(status=status.value, stages=results, errors=errors)


def nested_stages_scope(own: dict[str, Any], enclosing: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """``stages`` inside a body: its own stages first, then the enclosing scope's.

    The enclosing mapping is live, so a body sees exactly the stages that finished before the
    stage holding it (never later ones); its own stages shadow an enclosing one of that id.
    """
    if enclosing is None:
        return own
    outer = enclosing.maps if isinstance(enclosing, ChainMap) else [enclosing]
    return ChainMap(own, *outer)


@dataclass
class NestedRun:
    """What a group of nested stages produced."""

    status: str
    stages: dict[str, Any]
    errors: list[dict[str, Any]]

    def record(self, **extra: Any) -> dict[str, Any]:
        data: dict[str, Any] = {"status": self.status, **extra, "stages": self.stages}
        if self.errors:
            data["errors"] = self.errors
        return data


@dataclass(frozen=True)
class TimeLimit:
    """A ``timeout-minutes`` and whose it is, named in a timeout's message."""

    owner: str  # "stage 's'", "job 'load'", "workflow 'nightly'"
    minutes: float

    def named_for(self, what: str) -> str:
        seconds = self.minutes * 60
        shown = f"{self.minutes:g}, {seconds:g} s" if seconds < 120 else f"{self.minutes:g}"
        if what.endswith(self.owner):  # "stage 's' ran past its timeout-minutes (...)"
            return f"its timeout-minutes ({shown})"
        return f"the timeout-minutes of {self.owner} ({shown})"


def minutes_limit(minutes: float, owner: str) -> TimeLimit:
    return TimeLimit(owner, minutes)
