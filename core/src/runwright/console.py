"""The process's stdout and stderr: everything masked, and a stage's own output sent to its trace.

Two mechanisms, because Python code can write at two levels:

- :class:`ConsoleStream` replaces ``sys.stdout`` and ``sys.stderr`` (installed by the command
  line at start and, in any other process, when a runtime is built or a stage's Python code first
  runs). A write from a thread running a stage's Python code, or a thread it started
  (``sys.stderr.write``, ``logging``, ``traceback``), becomes that stage's ``stdout``/``stderr``
  trace events, line by line; every other write is masked
  line by line (:func:`runwright.masking.mask`, which also masks a secret that terminal control
  codes split) before it reaches the real stream.
- :class:`DescriptorCapture`: while a stage's Python code runs in this process, file descriptors
  1 and 2 are pipes read by this module, so what the code writes below Python (``os.write``,
  ``os.system``, a C library, a child process that inherits the descriptors) goes to the trace of
  the stage too (when several run at once in one process, to the one that started last);
  runwright's own output goes to the saved descriptors meanwhile. Output that arrives when no
  stage is running (a background child that outlived its stage) is masked and written to stderr,
  never stdout, so ``--json`` output stays one document.

Nothing here knows about runs: a stage hands in a ``sink(event, line)`` (its ``ctx.log``).
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any, TextIO

from runwright.masking import mask

Sink = Callable[..., None]
"""Where a stage's output lines go: ``sink(line, event="stdout" | "stderr")``."""

MAX_PENDING_LINE = 65536
"""A partial line longer than this is handed on without waiting for its newline."""
DRAIN_SECONDS = 2.0
"""How long the end of a stage waits for its last descriptor output to be read (bounded)."""

_thread_sinks: dict[int, Sink] = {}
"""Threads running a stage's Python code -> that stage's sink."""
_active: list[StageOutput] = []
"""The stages whose Python code runs now, oldest first (descriptor output goes to
the last)."""
_sinks_lock = threading.Lock()
_saved_descriptors: dict[int, int] = {}
"""While descriptors 1 and 2 are captured: a copy of each original, where runwright's own output
goes meanwhile (every console stream writing to that descriptor, a rich display's included)."""
_own = threading.local()
"""``_own.depth > 0`` while runwright itself prints from a stage's thread (a trace listener)."""


@contextlib.contextmanager
def runwright_output() -> Iterator[None]:
    """What the calling thread writes inside this block is runwright's own output, not the
    stage's (a progress display fed by the trace from the stage's thread): it goes to the
    console, masked."""
    depth = getattr(_own, "depth", 0)
    _own.depth = depth + 1
    try:
        yield
    finally:
        _own.depth = depth


def write_unmasked(text: str) -> None:
    """Write ``text`` and a newline to the real standard output, not through the masker.

    For the one value runwright shows on purpose although it is a secret: the token a server
    made at start, printed once in its sign-in link (anything else it prints stays masked).
    """
    stream = sys.stdout
    real = getattr(stream, "inner", stream)
    real.write(text + "\n")
    real.flush()


def _stage_sink(ident: int) -> Sink | None:
    return None if getattr(_own, "depth", 0) else _thread_sinks.get(ident)


def _split_lines(pending: str, text: str, flush: bool) -> tuple[list[str], str]:
    """Complete lines of ``pending + text`` and what is left of a partial line."""
    lines = (pending + text).split("\n")
    rest = lines.pop()
    if flush or len(rest) > MAX_PENDING_LINE:
        if rest:
            lines.append(rest)
        rest = ""
    return lines, rest


class _MaskingBuffer(io.RawIOBase):
    """``sys.stdout.buffer``: bytes written there take the same way as text."""

    def __init__(self, stream: ConsoleStream) -> None:
        self.stream = stream

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.stream.write(bytes(data).decode(self.stream.encoding or "utf-8", "replace"))
        return len(data)

    def flush(self) -> None:
        self.stream.flush()


class ConsoleStream(io.TextIOBase):
    """A masked ``sys.stdout``/``sys.stderr`` that routes a stage thread's writes to its trace."""

    def __init__(self, inner: TextIO, event: str, fd: int) -> None:
        self.inner = inner
        self.event = event
        self.fd = fd
        self._pending: dict[int, str] = {}
        self._lock = threading.Lock()
        self._buffer = _MaskingBuffer(self)
        try:
            self._inner_fd: int | None = inner.fileno()
        except (AttributeError, OSError, ValueError):
            self._inner_fd = None

    # -- the TextIO surface the rest of Python expects -----------------------------------

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.inner, "encoding", None) or "utf-8"

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return getattr(self.inner, "errors", None)

    @property
    def buffer(self) -> _MaskingBuffer:
        """Bytes written to ``sys.stdout.buffer`` take the same way as text."""
        return self._buffer

    def __getattr__(self, name: str) -> Any:  # reconfigure, line_buffering...: the real stream's
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        try:
            return self.inner.isatty()
        except (AttributeError, ValueError):
            return False

    def fileno(self) -> int:
        return self.inner.fileno()

    # -- writing ---------------------------------------------------------------------------

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        ident = threading.get_ident()
        sink = _stage_sink(ident)
        with self._lock:
            lines, self._pending[ident] = _split_lines(self._pending.get(ident, ""), text, False)
            if not self._pending[ident]:
                del self._pending[ident]
        if lines:
            self._emit(sink, lines)
        return len(text)

    def flush(self) -> None:
        """Hand on this thread's partial line (a prompt, a progress display) and flush."""
        ident = threading.get_ident()
        with self._lock:
            rest = self._pending.pop(ident, "")
        sink = _stage_sink(ident)
        if rest:
            self._emit(sink, [rest], newline=False)
        if sink is None:
            try:
                self.inner.flush()
            except (OSError, ValueError):
                pass

    def flush_thread(self, ident: int, sink: Sink) -> None:
        """What a finished stage thread left without a newline goes to its stage."""
        with self._lock:
            rest = self._pending.pop(ident, "")
        if rest:
            sink(rest, event=self.event)

    def _emit(self, sink: Sink | None, lines: list[str], newline: bool = True) -> None:
        if sink is not None:
            for line in lines:
                sink(line, event=self.event)
            return
        text = "\n".join(mask(line) for line in lines) + ("\n" if newline else "")
        redirect = _saved_descriptors.get(self.fd)
        if redirect is not None and self._inner_fd == self.fd:
            self.inner.flush()
            _write_all(redirect, text.encode(self.encoding, "replace"))
            return
        self.inner.write(text)
        if newline and self.inner.isatty():
            self.inner.flush()


def _write_all(fd: int, data: bytes) -> None:
    while data:
        try:
            written = os.write(fd, data)
        except OSError:
            return
        data = data[written:]


def install_console_streams() -> list[ConsoleStream]:
    """Make ``sys.stdout`` and ``sys.stderr`` console streams (again, if something replaced them).

    A stream that is None (a process started without one) stays None: nothing is printed there.
    """
    streams = []
    for name, event, fd in (("stdout", "stdout", 1), ("stderr", "stderr", 2)):
        current = getattr(sys, name)
        if current is None:
            continue
        if not isinstance(current, ConsoleStream):
            current = ConsoleStream(current, event, fd)
            setattr(sys, name, current)
        streams.append(current)
    return streams


# -- file descriptors 1 and 2 ---------------------------------------------------------------


class DescriptorCapture:
    """Descriptors 1 and 2 as pipes while any stage's Python code runs (counted, process-wide)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._saved: dict[int, int] = {}
        self._pipes: dict[int, tuple[int, int]] = {}
        self._drained: dict[int, threading.Event] = {}
        self._drain_number = 0
        self._drain_lock = threading.Lock()

    def acquire(self) -> None:
        with self._lock:
            self._users += 1
            if self._users == 1:
                self._start()

    def release(self) -> None:
        with self._lock:
            self._users -= 1
            if self._users == 0:
                self._stop()

    def _start(self) -> None:
        for stream in (*install_console_streams(), sys.__stdout__, sys.__stderr__):
            try:
                if stream is not None:
                    stream.flush()
            except (OSError, ValueError):
                pass
        for fd in (1, 2):
            if fd not in self._pipes:
                read_end, write_end = os.pipe()
                self._pipes[fd] = (read_end, write_end)
                reader = threading.Thread(
                    target=self._read, args=(fd, read_end), name=f"runwright-fd{fd}-capture", daemon=True
                )
                reader.start()
            try:
                self._saved[fd] = os.dup(fd)
            except OSError:  # descriptor closed (a daemon): nothing to capture there
                continue
            _saved_descriptors[fd] = self._saved[fd]
            os.dup2(self._pipes[fd][1], fd)

    def _stop(self) -> None:  # the last stage drained the pipes before it let go
        for fd, saved in self._saved.items():
            _saved_descriptors.pop(fd, None)
            os.dup2(saved, fd)
        for saved in self._saved.values():
            os.close(saved)
        self._saved.clear()

    def drain(self) -> None:
        """Wait (bounded) until everything written to the pipes so far has been read."""
        waits = []
        for _, write_end in list(self._pipes.values()):
            with self._drain_lock:
                self._drain_number += 1
                number = self._drain_number
                done = self._drained[number] = threading.Event()
            _write_all(write_end, b"\0runwright-drain-%d\0" % number)
            waits.append(done)
        for done in waits:
            done.wait(DRAIN_SECONDS)

    def _read(self, fd: int, read_end: int) -> None:
        event = "stdout" if fd == 1 else "stderr"
        pending = b""
        while True:
            try:
                chunk = os.read(read_end, 65536)
            except OSError:
                return
            if not chunk:
                return
            pending += chunk
            while b"\0runwright-drain-" in pending:
                before, _, after = pending.partition(b"\0runwright-drain-")
                number, marker_end, rest = after.partition(b"\0")
                if not marker_end:
                    break  # the marker is split across reads
                if before:
                    self._deliver(event, before.decode("utf-8", "replace"), flush=True)
                done = self._drained.pop(int(number or 0), None)
                if done is not None:
                    done.set()
                pending = rest
            else:
                head, newline, pending = pending.rpartition(b"\n")
                if newline:
                    self._deliver(event, head.decode("utf-8", "replace"), flush=True)
                elif len(pending) > MAX_PENDING_LINE:
                    self._deliver(event, pending.decode("utf-8", "replace"), flush=True)
                    pending = b""

    def _deliver(self, event: str, text: str, flush: bool) -> None:
        with _sinks_lock:
            sink = _active[-1].sink if _active else None
        lines, _ = _split_lines("", text, flush)
        if sink is not None:
            for line in lines:
                try:
                    sink(line, event=event)
                except Exception:  # noqa: BLE001 - the reader must go on, or writers block
                    _write_all(self._saved.get(2, 2), (mask(line) + "\n").encode("utf-8", "replace"))
            return
        target = self._saved.get(2, 2)  # never stdout: --json keeps one document there
        _write_all(target, ("\n".join(mask(line) for line in lines) + "\n").encode("utf-8", "replace"))


CAPTURE = DescriptorCapture()
"""The process's one descriptor capture."""


_thread_hook_lock = threading.Lock()
_thread_hook_installed = False


def _install_thread_hook() -> None:
    """A thread started by a stage's thread writes for that stage too (installed once)."""
    global _thread_hook_installed
    with _thread_hook_lock:
        if _thread_hook_installed:
            return
        original_start = threading.Thread.start

        def start(thread: threading.Thread) -> None:
            sink = _thread_sinks.get(threading.get_ident())
            if sink is not None:
                run = thread.run

                def run_for_the_stage() -> None:
                    ident = threading.get_ident()
                    _thread_sinks[ident] = sink
                    try:
                        run()
                    finally:
                        if _thread_sinks.get(ident) is sink:
                            del _thread_sinks[ident]
                        for stream in (sys.stdout, sys.stderr):
                            if isinstance(stream, ConsoleStream):
                                stream.flush_thread(ident, sink)

                thread.run = run_for_the_stage  # type: ignore[method-assign]
            original_start(thread)

        threading.Thread.start = start  # type: ignore[method-assign]
        _thread_hook_installed = True


class StageOutput:
    """What one stage's Python code writes, at every level, routed to ``sink`` (its trace)."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self._threads: list[int] = []

    def start(self) -> None:
        _install_thread_hook()
        CAPTURE.acquire()
        with _sinks_lock:
            _active.append(self)

    def bind_current_thread(self) -> None:
        """Writes from the calling thread (the stage's worker) belong to this stage."""
        ident = threading.get_ident()
        self._threads.append(ident)
        _thread_sinks[ident] = self.sink

    def stop(self) -> None:
        for ident in self._threads:
            _thread_sinks.pop(ident, None)
            for stream in (sys.stdout, sys.stderr):
                if isinstance(stream, ConsoleStream):
                    stream.flush_thread(ident, self.sink)
        CAPTURE.drain()  # descriptor output written before the end still belongs to this stage
        with _sinks_lock:
            if self in _active:
                _active.remove(self)
        CAPTURE.release()
