"""Run traces: one JSON line per event in ``<RUNWRIGHT_LOG_PATH>/<run_id>.jsonl``, masked.

Each line carries the run id, parent run id, job, strategy, stage, event, time and message, so
``runwright logs RUN_ID`` (and later the web page) can show a run as it happens.

A plugin answering the ``make_run_tracer`` hook (runwright-otel) gets the same events as a
:class:`RunTracer` and says which W3C trace context each job and stage runs in;
:func:`current_traceparent` gives it to code running in a stage (the requests plugin's headers).
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import IO, Any, Protocol

from runwright.console import runwright_output
from runwright.errors import RunIdError
from runwright.masking import mask

RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
"""What a run id may be: it names the run's trace file (``<id>.jsonl``) and its URL."""


def checked_run_id(run_id: str) -> str:
    """``run_id`` if it can name a file and a URL path step, else a :class:`RunIdError`."""
    if not RUN_ID.fullmatch(run_id):
        shown = run_id if len(run_id) <= 80 else run_id[:77] + "..."
        raise RunIdError(
            f"run id {shown!r}: expected 1 to 128 letters, digits, '-', '_' or '.', starting with a "
            "letter or digit (it names the run's trace file and its URL)"
        )
    return run_id


FLUSH_DELAY = 0.05
"""Seconds an event may wait in the file's buffer: a run writing many events flushes (one
system call, which lets other threads in) at most this often. A process killed with SIGKILL can
lose at most this much of a trace; run start and end and every failure are written at once."""
FLUSH_AT_ONCE = frozenset({"run-start", "run-end"})
_ENCODER = json.JSONEncoder(default=str)  # what json.dumps(..., default=str) builds per call


class RunTracer(Protocol):
    """What the ``make_run_tracer`` hook returns: a listener of the run's events that knows the
    trace context (``00-<trace id>-<span id>-<flags>``) of each place in the run."""

    def __call__(self, event: dict[str, Any]) -> None: ...

    def traceparent(self, job: str | None, strategy: str | None, stage: str | None) -> str | None:
        """The context of the stage (or strategy, job, run when the later parts are None)."""
        ...


TRACEPARENT: ContextVar[str | None] = ContextVar("runwright_traceparent", default=None)
"""The W3C trace context of the stage running in this thread (set only when a tracer is on)."""


def current_traceparent() -> str | None:
    """The ``traceparent`` of the stage running here, for code that calls out (HTTP headers)."""
    return TRACEPARENT.get()


class TraceFlusher:
    """One thread per process flushes the traces that buffered events, ``FLUSH_DELAY`` after
    the first of them: a server running hundreds of runs starts no thread per run for it."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._dirty: set[RunTrace] = set()
        self._thread: threading.Thread | None = None
        self._pid = 0

    def schedule(self, trace: RunTrace) -> None:
        with self._condition:
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                self._pid = os.getpid()  # (again) after a fork: threads do not survive it
                self._thread = threading.Thread(target=self._loop, name="runwright-trace-flush", daemon=True)
                self._thread.start()
            self._dirty.add(trace)
            self._condition.notify()

    def forget(self, trace: RunTrace) -> None:
        """A trace closed before its flush came: released now, not after ``FLUSH_DELAY``."""
        with self._condition:
            self._dirty.discard(trace)

    def _loop(self) -> None:
        while True:
            with self._condition:
                while not self._dirty:
                    self._condition.wait()
            time.sleep(FLUSH_DELAY)
            self._flush_dirty()

    def _flush_dirty(self) -> None:
        """Flush the traces waiting; a function of its own, so that none of them (nor its run)
        stays referenced from this thread's frame while it waits for the next."""
        with self._condition:
            dirty, self._dirty = self._dirty, set()
        for trace in dirty:
            trace.flush()


FLUSHER = TraceFlusher()


class RunTrace:
    """Append-only event writer for one run; thread-safe; a no-op sink when disabled."""

    def __init__(
        self,
        run_id: str,
        workflow: str,
        parent_run_id: str | None = None,
        log_dir: Path | None = None,
        listeners: list[Callable[[dict[str, Any]], None]] | None = None,
    ) -> None:
        self.run_id = run_id
        self.workflow = workflow
        self.parent_run_id = parent_run_id
        self.path: str | None = None
        """The trace file, as text: a ``Path`` per run would intern its file name, which on
        Python 3.12 is kept for the life of the process (a scheduler's, a server's)."""
        self._file: IO[str] | None = None
        self._lock = threading.Lock()
        self._listeners = list(listeners or [])
        self._flushed = 0.0
        self._flush_scheduled = False
        if log_dir is not None:
            log_dir.mkdir(parents=True, exist_ok=True)
            self.path = os.path.join(log_dir, f"{checked_run_id(run_id)}.jsonl")
            self._file = open(self.path, "a", encoding="utf-8")  # closed by close()

    def listen(self, listener: Callable[[dict[str, Any]], None]) -> None:
        """Give every later event to ``listener`` too (a tracer made after the trace)."""
        self._listeners.append(listener)

    def event(
        self,
        event: str,
        message: str = "",
        *,
        job: str | None = None,
        strategy: str | None = None,
        stage: str | None = None,
        **extra: Any,
    ) -> None:
        if self._file is None and not self._listeners:
            return
        record: dict[str, Any] = {
            "time": time.time(),
            "run_id": self.run_id,
            "parent_run_id": self.parent_run_id,
            "workflow": self.workflow,
            "event": event,
        }
        if job is not None:
            record["job"] = job
        if strategy is not None:
            record["strategy"] = strategy
        if stage is not None:
            record["stage"] = stage
        if message:
            record["message"] = message
        if extra:
            record.update(extra)
        masked = mask(record)
        if self._listeners:
            with runwright_output():  # a display printing from a stage's thread is not the stage
                for listener in self._listeners:
                    try:
                        listener(masked)
                    except Exception:  # a display must never break a run
                        pass
        if self._file is None:
            return
        line = _ENCODER.encode(masked)
        with self._lock:
            if self._file is None:
                return
            self._file.write(line + "\n")
            now = time.monotonic()
            failed = extra.get("status") == "FAILED" or "errors" in extra
            if event in FLUSH_AT_ONCE or failed or now - self._flushed >= FLUSH_DELAY:
                self._file.flush()
                self._flushed = now
                return
            schedule = not self._flush_scheduled
            self._flush_scheduled = True
        if schedule:  # flush what is buffered soon, even if nothing follows
            FLUSHER.schedule(self)

    def flush(self) -> None:
        with self._lock:
            self._flush_scheduled = False
            if self._file is not None:
                self._file.flush()
                self._flushed = time.monotonic()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
            scheduled, self._flush_scheduled = self._flush_scheduled, False
        if scheduled:
            FLUSHER.forget(self)


def read_trace(path: str | Path) -> Iterator[dict[str, Any]]:
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if line:
                yield json.loads(line)


def format_event(record: dict[str, Any]) -> str:
    """One readable line: ``12:00:01.234 job/strategy/stage event: message``."""
    stamp = time.strftime("%H:%M:%S", time.localtime(record.get("time", 0)))
    millis = int((record.get("time", 0) % 1) * 1000)
    where = "/".join(str(record[k]) for k in ("job", "strategy", "stage") if record.get(k))
    text = f"{stamp}.{millis:03d} {where or record.get('workflow', '')} {record.get('event', '')}"
    if record.get("message"):
        text += f": {record['message']}"
    for error in record.get("errors") or []:  # a failed stage says why
        if isinstance(error, dict):
            text += f": {error.get('name', 'Error')}: {error.get('message', '')}"
    return text
