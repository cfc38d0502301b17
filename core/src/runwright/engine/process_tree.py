"""A stage's processes: finding them in ``/proc``, stopping them, and the watchdog that stops
them when the process running the stage dies.

A stage's processes are its roots (the children runwright or the stage's Python code started),
their descendants, the process groups and sessions they lead, and every process carrying the
stage's :data:`STAGE_MARK_VARIABLE` in its environment (what finds a ``setsid`` child that left
the tree).

A runner killed by SIGKILL cannot stop anything, so each process that runs stages starts one
watchdog (:data:`WATCHDOG`, on its first stage process): a small Python process, in a session of
its own, that is told each running stage's roots and mark over a pipe. When the pipe closes or
the watchdog is orphaned (its parent is gone, however it ended), it stops the stages that were
still registered (SIGTERM, SIGKILL after :data:`TERMINATE_GRACE_SECONDS`) and exits. A stage
that finished is unregistered first: what it left running on purpose (``nohup ... &``) is left.

This module imports only the standard library: the watchdog runs it by path (``python -I -S``),
without importing runwright.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import threading
import time
from collections.abc import Iterable

TERMINATE_GRACE_SECONDS = 1.0
"""How long processes get between SIGTERM and SIGKILL."""
STAGE_MARK_VARIABLE = "RUNWRIGHT_STAGE_MARK"
"""Set in a stage's processes' environment: found again after they leave the process tree."""
WATCHDOG_POLL_SECONDS = 0.2
"""How often the watchdog checks that its parent is alive (besides the pipe closing)."""


# -- the process tree -----------------------------------------------------------------------


def _process_table() -> dict[int, tuple[int, int, int, str, int]]:
    """``pid -> (ppid, pgid, sid, state, start time)`` for every process in ``/proc``."""
    table: dict[int, tuple[int, int, int, str, int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        fields = _stat_fields(name)
        if fields is not None:
            table[int(name)] = fields
    return table


def _read_proc(pid: int | str, name: str) -> bytes:
    fd = os.open(f"/proc/{pid}/{name}", os.O_RDONLY)
    try:
        chunks = [os.read(fd, 65536)]
        while name == "environ" and chunks[-1]:  # an environment can be longer than one read
            chunks.append(os.read(fd, 65536))
        return b"".join(chunks)
    finally:
        os.close(fd)


def _stat_fields(pid: int | str) -> tuple[int, int, int, str, int] | None:
    try:
        fields = _read_proc(pid, "stat").rsplit(b")", 1)[1].split()
        return int(fields[1]), int(fields[2]), int(fields[3]), fields[0].decode(), int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def start_time(pid: int) -> int | None:
    """When ``pid`` started (clock ticks since boot): tells a process from a later one that
    reuses its pid. None when it is gone."""
    fields = _stat_fields(pid)
    return None if fields is None else fields[4]


def _carries_mark(pid: int, needles: set[bytes]) -> bool:
    try:
        return not needles.isdisjoint(_read_proc(pid, "environ").split(b"\0"))
    except OSError:
        return False


def stage_processes(roots: Iterable[int], mark: str | Iterable[str] | None = None) -> set[int]:
    """The live processes of a stage (or of several): ``roots``, their descendants, members of
    groups and sessions any of them leads, and processes whose environment carries a ``mark``."""
    table = _process_table()
    own = os.getpid()
    found = {pid for pid in roots if pid in table}
    marks = [mark] if isinstance(mark, str) else list(mark or ())
    if marks:
        needles = {f"{STAGE_MARK_VARIABLE}={m}".encode() for m in marks}
        found |= {pid for pid in table if pid != own and _carries_mark(pid, needles)}
    while True:
        grown = {
            pid
            for pid, (ppid, pgid, sid, _, _) in table.items()
            if pid not in found and (ppid in found or pgid in found or sid in found)
        }
        if not grown:
            break
        found |= grown
    found.discard(own)
    return {pid for pid in found if table[pid][3] not in {"Z", "X"}}


def kill_processes(pids: Iterable[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def stop_processes(roots: Iterable[int], mark: str | Iterable[str] | None = None) -> None:
    """SIGTERM a stage's processes, SIGKILL what is left after the grace period (bounded)."""
    roots = list(roots)
    targets = stage_processes(roots, mark)
    if not targets:
        return
    kill_processes(targets, signal.SIGTERM)
    deadline = time.monotonic() + TERMINATE_GRACE_SECONDS
    while time.monotonic() < deadline:
        targets = stage_processes(targets | set(roots), mark)
        if not targets:
            return
        time.sleep(0.05)
    kill_processes(stage_processes(targets | set(roots), mark), signal.SIGKILL)


# -- the watchdog (the process) -------------------------------------------------------------


class _Registry:
    """What the watchdog was told: each running stage's marks and roots (pid, start time).

    Lines: ``+ KEY MARK`` (``-`` for none), ``+ KEY - PID START``, ``- KEY``."""

    def __init__(self) -> None:
        self.stages: dict[str, tuple[set[str], set[tuple[int, int]]]] = {}
        self.pending = b""

    def feed(self, data: bytes) -> None:
        *lines, self.pending = (self.pending + data).split(b"\n")
        for line in lines:
            parts = line.decode("ascii", "replace").split()
            if len(parts) == 2 and parts[0] == "-":
                self.stages.pop(parts[1], None)
            elif len(parts) in (3, 5) and parts[0] == "+":
                marks, roots = self.stages.setdefault(parts[1], (set(), set()))
                if parts[2] != "-":
                    marks.add(parts[2])
                if len(parts) == 5 and parts[3].isdigit() and parts[4].isdigit():
                    roots.add((int(parts[3]), int(parts[4])))

    def stop_all(self) -> None:
        """Stop every registered stage's processes at once (one grace period for all)."""
        marks = {mark for stage_marks, _ in self.stages.values() for mark in stage_marks}
        roots = {
            pid
            for _, stage_roots in self.stages.values()
            for pid, started in stage_roots
            if start_time(pid) in (started, None)  # never a later process that reused the pid
        }
        if marks or roots:
            stop_processes(roots, marks)


def watch(parent: int, read_fd: int = 0) -> None:
    """The watchdog's loop: read registrations until the pipe closes or ``parent`` is gone,
    then stop what is still registered."""
    registry = _Registry()
    while True:
        ready, _, _ = select.select([read_fd], [], [], WATCHDOG_POLL_SECONDS)
        if ready:
            data = os.read(read_fd, 65536)
            if not data:
                break
            registry.feed(data)
        elif os.getppid() != parent:
            while select.select([read_fd], [], [], 0)[0]:  # what it wrote before it died
                data = os.read(read_fd, 65536)
                if not data:
                    break
                registry.feed(data)
            break
    registry.stop_all()


# -- the watchdog (the runner's side) -------------------------------------------------------


class Watchdog:
    """This process's side of the watchdog: started on first use, restarted if it died,
    forgotten in a forked child (which starts its own)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._pid: int | None = None
        self._lines: dict[str, list[bytes]] = {}
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._forget)

    def register(self, key: str, mark: str | None = None, pids: Iterable[int] = ()) -> None:
        """Tell the watchdog that stage ``key`` runs processes with ``mark`` and these roots."""
        lines = [f"+ {key} {mark}\n".encode()] if mark else []
        for pid in pids:
            started = start_time(pid)
            if started is not None:
                lines.append(f"+ {key} - {pid} {started}\n".encode())
        if not lines:
            return
        with self._lock:
            self._lines.setdefault(key, []).extend(lines)
            self._send(b"".join(lines))

    def unregister(self, key: str) -> None:
        """Stage ``key`` is over: what it left running is no longer the watchdog's business."""
        with self._lock:
            if self._lines.pop(key, None) is not None:
                self._send(f"- {key}\n".encode())

    def _send(self, data: bytes) -> None:
        for _ in range(2):  # a watchdog that died is started again, and told everything again
            if self._fd is None and not self._start():
                return
            try:
                os.write(self._fd, data)  # type: ignore[arg-type]
                return
            except OSError:
                self._close()
                data = b"".join(line for lines in self._lines.values() for line in lines)

    def _start(self) -> bool:
        if not sys.platform.startswith("linux") or not hasattr(os, "posix_spawn"):
            return False
        read_fd, write_fd = os.pipe()
        try:
            # posix_spawn, not subprocess: never mistaken for a stage's own child (see
            # stopping.track_processes), and its stdout/stderr never hold a caller's pipe open.
            self._pid = os.posix_spawn(
                sys.executable,
                [sys.executable, "-I", "-S", __file__, str(os.getpid())],
                dict(os.environ),
                file_actions=[
                    (os.POSIX_SPAWN_DUP2, read_fd, 0),
                    (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
                    (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0),
                ],
                setsid=True,
            )
        except (OSError, NotImplementedError):  # no POSIX_SPAWN_SETSID in this libc
            os.close(write_fd)
            return False
        finally:
            os.close(read_fd)
        self._fd = write_fd
        return True

    def _close(self) -> None:
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass
        if self._pid is not None:
            try:
                os.waitpid(self._pid, os.WNOHANG)  # reap it if it is already gone
            except ChildProcessError:
                pass
        self._fd = self._pid = None

    def _forget(self) -> None:
        self._lock = threading.Lock()
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass
        self._fd = self._pid = None
        self._lines = {}


WATCHDOG = Watchdog()


def new_stage_key() -> str:
    import uuid  # not in the watchdog, which never makes one

    return uuid.uuid4().hex


if __name__ == "__main__":  # the watchdog: python -I -S process_tree.py PARENT_PID
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    watch(int(sys.argv[1]))
