"""Clocks: the scheduler takes one as a dependency, so tests step time without sleeping."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware."""
        ...

    def sleep_until(self, when: datetime, stop: threading.Event) -> bool:
        """Wait until ``when``; return True if ``stop`` was set first."""
        ...


class SystemClock:
    """Real time; waits on the stop event, so SIGTERM wakes the scheduler at once."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep_until(self, when: datetime, stop: threading.Event) -> bool:
        seconds = (when - self.now()).total_seconds()
        return stop.wait(max(0.0, seconds))


class SimulatedClock:
    """Starts at a given time and jumps forward instead of sleeping (tests, replays)."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("a simulated clock needs a timezone-aware start")
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, when: datetime) -> None:
        with self._lock:
            self._now = when

    def advance(self, **delta: float) -> datetime:
        from datetime import timedelta

        with self._lock:
            self._now = self._now + timedelta(**delta)
            return self._now

    def sleep_until(self, when: datetime, stop: threading.Event) -> bool:
        if stop.is_set():
            return True
        with self._lock:
            if when > self._now:
                self._now = when
        return stop.is_set()
