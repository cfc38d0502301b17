"""One heartbeat thread beats every run of the process, each at its own interval."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import datetime

from runwright.schedule.heartbeat import Heartbeats


class RecordingStore:
    """An audit store's ``heartbeat`` that counts beats per run id (and can fail for one)."""

    def __init__(self, failing: str = "") -> None:
        self.beats: Counter[str] = Counter()
        self.failing = failing
        self.lock = threading.Lock()

    def heartbeat(self, run_id: str, at: datetime) -> None:
        with self.lock:
            self.beats[run_id] += 1
        if run_id == self.failing:
            raise OSError("disk full")


def wait_until(condition, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


def test_each_run_beats_at_its_own_interval_and_stops_when_it_ends() -> None:
    heartbeats = Heartbeats()
    store = RecordingStore()
    with heartbeats.beating(store, "slow", 0.4):
        with heartbeats.beating(store, "fast", 0.05):
            assert wait_until(lambda: store.beats["fast"] >= 6)
            assert store.beats["slow"] <= 1  # 0.3 s or so have passed: at most one slow beat
        assert wait_until(lambda: store.beats["slow"] >= 2)
        fast_after_end = store.beats["fast"]
        time.sleep(0.2)
        assert store.beats["fast"] == fast_after_end  # an ended run is never beaten again
    slow_after_end = store.beats["slow"]
    time.sleep(0.5)
    assert store.beats["slow"] == slow_after_end
    assert heartbeats._runs == {}


def test_a_failing_beat_does_not_stop_the_others() -> None:
    heartbeats = Heartbeats()
    store = RecordingStore(failing="broken")
    with heartbeats.beating(store, "broken", 0.05), heartbeats.beating(store, "fine", 0.05):
        assert wait_until(lambda: store.beats["broken"] >= 3 and store.beats["fine"] >= 3)


def test_a_thousand_concurrent_runs_share_one_thread() -> None:
    heartbeats = Heartbeats()
    store = RecordingStore()
    before = threading.active_count()
    blocks = [heartbeats.beating(store, f"run-{n}", 0.05) for n in range(1000)]
    for block in blocks:
        block.__enter__()
    try:
        assert threading.active_count() == before + 1
        assert wait_until(lambda: len(store.beats) == 1000)
    finally:
        for block in blocks:
            block.__exit__(None, None, None)
