"""One heartbeat thread per process for every run it records.

A RUNNING record's heartbeat tells other processes that its run is alive (a record whose
heartbeat stops while its process is gone is marked CRASHED). A thread per run made each run
pay a thread start and join, which was a fifth of the cost of a one-stage run triggered
through the API; one thread keeps a heap of when each run is due next.
"""

from __future__ import annotations

import heapq
import itertools
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from runwright.audit import utc_now


class HeartbeatTarget(Protocol):
    """What a heartbeat needs of an audit backend."""

    def heartbeat(self, run_id: str, at: object) -> None: ...


class Heartbeats:
    """Beats each registered run every ``interval`` seconds from when it was registered."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._due: list[tuple[float, int, str]] = []  # (monotonic due, order, key)
        self._runs: dict[str, tuple[HeartbeatTarget, str, float]] = {}
        self._order = itertools.count()
        self._thread: threading.Thread | None = None
        self._pid = 0

    @contextmanager
    def beating(self, backend: HeartbeatTarget, run_id: str, interval: float) -> Iterator[None]:
        """Beat ``run_id`` in ``backend`` while the block runs; a missed beat never fails it."""
        key = f"{id(backend)}:{run_id}:{next(self._order)}"
        with self._condition:
            self._ensure_thread()
            self._runs[key] = (backend, run_id, interval)
            heapq.heappush(self._due, (time.monotonic() + interval, next(self._order), key))
            self._condition.notify()
        try:
            yield
        finally:
            with self._condition:
                self._runs.pop(key, None)  # its heap entry is dropped when it comes due

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._pid == os.getpid() and self._thread.is_alive():
            return
        if self._pid != os.getpid():  # a forked child: the parent's runs are not ours
            self._due, self._runs = [], {}
        self._pid = os.getpid()
        self._thread = threading.Thread(target=self._loop, name="runwright-heartbeats", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            with self._condition:
                while True:
                    while self._due and self._due[0][2] not in self._runs:
                        heapq.heappop(self._due)  # a run that ended
                    now = time.monotonic()
                    if self._due and self._due[0][0] <= now:
                        _, _, key = heapq.heappop(self._due)
                        backend, run_id, interval = self._runs[key]
                        heapq.heappush(self._due, (now + interval, next(self._order), key))
                        break
                    self._condition.wait(self._due[0][0] - now if self._due else None)
            try:
                backend.heartbeat(run_id, utc_now())
            except Exception:  # a missed heartbeat must not kill the run or the thread
                pass


HEARTBEATS = Heartbeats()
