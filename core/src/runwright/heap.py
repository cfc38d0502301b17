"""Giving the C heap's free memory back to the operating system, now and then, in a scheduler,
a server and its worker processes, which run for months.

glibc's ``malloc`` keeps memory freed by ``free`` in its arenas (one per thread that allocated,
up to eight per core) and returns only the top of the main arena by itself. A process whose
runs come and go on many threads ends up with free pages scattered through its arenas, still
resident: its size creeps up although nothing is kept (``docs/benchmarks.md``, issue 30).
``malloc_trim(0)`` hands every whole free page back (``madvise``). It costs a few milliseconds,
so it is done when a run ends, at most once every ``RUNWRIGHT_MALLOC_TRIM_SECONDS`` (default
10; 0 turns it off), never in the first interval of a process (a ``runwright run`` never
trims), and not at all off glibc (musl, macOS, Windows: nothing to call).

Trimming gives back whole free pages only; what creeps is free memory scattered over many
arenas. glibc makes up to eight arenas per core, one for each new thread while there are fewer,
and a worker runs 64 runs at once on threads of its own. So the scheduler, the server and its
workers also cap the arenas at ``RUNWRIGHT_MALLOC_ARENAS`` (default 2; 0 leaves glibc's
default) when they start, as ``MALLOC_ARENA_MAX`` would; a ``MALLOC_ARENA_MAX`` set in the
environment is the deployment's choice and wins.

What creeps after that is glibc's per-thread cache (tcache): every thread keeps up to 7 freed
blocks of each of 64 sizes for itself, and a worker's 75 threads fill theirs slowly, each as it
meets each size: bounded, but most of a server's growth over its first hundred thousand runs.
It can only be set when a process starts (``GLIBC_TUNABLES``), so ``runwright serve`` and
``runwright scheduler`` restart themselves once (``exec``: same pid, same arguments) with it set
to ``RUNWRIGHT_MALLOC_THREAD_CACHE`` (default 0; ``default`` leaves glibc's 7 and skips the
restart; a ``glibc.malloc.tcache_count`` already in ``GLIBC_TUNABLES`` wins). The processes a run
starts get the environment as it was: the restarted process puts it back at once, or, for a
server's workers, which must inherit it, each worker puts it back when it starts.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable

from runwright.config import malloc_arenas, malloc_thread_cache, malloc_trim_seconds

#: ``mallopt``'s parameter for the most arenas (glibc's ``malloc.h``).
M_ARENA_MAX = -8


def glibc_malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None where the C library has none."""
    import ctypes  # only once a process lived long enough to trim

    return _glibc_function("malloc_trim", [ctypes.c_size_t])


def _glibc_function(name: str, argtypes: list[type]) -> Callable[..., int] | None:
    """One of glibc's malloc functions (returning an int), or None off glibc."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        libc = ctypes.CDLL(None)  # the C library this process runs on
    except OSError:  # a static build
        return None
    if not hasattr(libc, "gnu_get_libc_version") or not hasattr(libc, name):  # musl
        return None
    function = getattr(libc, name)
    function.argtypes = argtypes
    function.restype = ctypes.c_int
    return function  # type: ignore[no-any-return]


def limit_malloc_arenas() -> int | None:
    """Cap this process's malloc arenas (see the module doc); the cap, or None when glibc is
    left alone (not glibc, ``RUNWRIGHT_MALLOC_ARENAS=0``, ``MALLOC_ARENA_MAX`` set). Call it
    first thing in a long-running process: threads started before keep the arenas they have."""
    count = malloc_arenas()
    if count <= 0 or os.environ.get("MALLOC_ARENA_MAX", "").strip():
        return None
    import ctypes

    mallopt = _glibc_function("mallopt", [ctypes.c_int, ctypes.c_int])
    if mallopt is None or mallopt(M_ARENA_MAX, count) != 1:
        return None
    return count


#: glibc's tunable: how many freed blocks of each size a thread keeps for itself.
TCACHE_TUNABLE = "glibc.malloc.tcache_count"
#: Set in the environment of a process that restarted itself with :data:`TCACHE_TUNABLE`: the
#: ``GLIBC_TUNABLES`` it had before, after a ``=`` ("" when it had none).
SAVED_TUNABLES = "RUNWRIGHT_SAVED_GLIBC_TUNABLES"

_command_line = False


def started_as_command() -> None:
    """Called by the command line's ``main()``: this process is runwright's own, so a
    long-running command may restart it. A program that calls the commands itself (a test's
    ``CliRunner``, a user's script) is never restarted under it."""
    global _command_line
    _command_line = True


def restarted() -> bool:
    """Whether this process is the restart of a long-running command (its environment still
    carries :data:`SAVED_TUNABLES`): what the first start already printed is not printed again."""
    return SAVED_TUNABLES in os.environ


def restart_with_thread_cache(children_inherit: bool = False) -> None:
    """Restart this process (``exec``) with glibc's per-thread cache at
    ``RUNWRIGHT_MALLOC_THREAD_CACHE`` (see the module doc), once, before any thread starts.

    In the restarted process the environment is put back as it was, unless ``children_inherit``
    (a server whose worker processes must start with the setting: each worker calls
    :func:`restore_environment` first). Returns without restarting when not started as the
    command line, off glibc, when the setting is ``default`` or already in ``GLIBC_TUNABLES``,
    and when ``exec`` fails (said on stderr: the process runs on with glibc's cache).
    """
    if SAVED_TUNABLES in os.environ:
        if not children_inherit:
            restore_environment()
        return
    count = malloc_thread_cache()
    tunables = os.environ.get("GLIBC_TUNABLES")
    if not _command_line or count is None or TCACHE_TUNABLE in (tunables or ""):
        return
    if glibc_malloc_trim() is None:  # not glibc: no tunables to set
        return
    environment = dict(os.environ)
    environment[SAVED_TUNABLES] = "" if tunables is None else f"={tunables}"
    environment["GLIBC_TUNABLES"] = f"{tunables}:" if tunables else ""
    environment["GLIBC_TUNABLES"] += f"{TCACHE_TUNABLE}={count}"
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execve(sys.executable, sys.orig_argv, environment)
    except OSError as exc:
        print(f"warning: could not restart with {TCACHE_TUNABLE}={count}: {exc}", file=sys.stderr)


def restore_environment() -> None:
    """Put ``GLIBC_TUNABLES`` back as it was before :func:`restart_with_thread_cache` (this
    process keeps its setting: glibc read it when the process started)."""
    saved = os.environ.pop(SAVED_TUNABLES, None)
    if saved is None:
        return
    if saved.startswith("="):
        os.environ["GLIBC_TUNABLES"] = saved[1:]
    else:
        os.environ.pop("GLIBC_TUNABLES", None)


class HeapTrimmer:
    """Calls ``malloc_trim(0)`` when a run ends, at most once every ``seconds``."""

    def __init__(self, seconds: float | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self._seconds = seconds
        self._clock = clock
        self._last = clock()  # the first interval of a process never trims
        self._lock = threading.Lock()
        self._trim: Callable[[int], int] | None = None
        self._looked = False
        self.trims = 0
        """How many times this trimmer gave memory back (for tests and benches)."""

    def run_ended(self) -> bool:
        """Trim if the interval has passed since the last trim; whether it did."""
        seconds = malloc_trim_seconds() if self._seconds is None else self._seconds
        if seconds <= 0:
            return False
        now = self._clock()
        with self._lock:
            if now - self._last < seconds:
                return False
            self._last = now
            if not self._looked:
                self._trim, self._looked = glibc_malloc_trim(), True
        if self._trim is None:
            return False
        self._trim(0)
        self.trims += 1
        return True


HEAP_TRIMMER = HeapTrimmer()
"""This process's trimmer: every place where a run ends in a long-running process calls it."""
