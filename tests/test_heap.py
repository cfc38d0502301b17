"""A long-running process gives the C heap's free pages back to the operating system when its
runs end (glibc's ``malloc_trim``), at most once per interval, never in a short command."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from runwright.heap import HeapTrimmer, glibc_malloc_trim

ON_GLIBC = glibc_malloc_trim() is not None


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_trims_at_most_once_per_interval_and_never_in_the_first() -> None:
    clock = Clock()
    trimmer = HeapTrimmer(seconds=60, clock=clock)
    clock.now += 59
    assert not trimmer.run_ended()  # a `runwright run` ends before the first interval
    clock.now += 2
    assert trimmer.run_ended() is ON_GLIBC
    clock.now += 30
    assert not trimmer.run_ended()
    clock.now += 31
    assert trimmer.run_ended() is ON_GLIBC
    assert trimmer.trims == (2 if ON_GLIBC else 0)


def test_zero_seconds_turns_it_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNWRIGHT_MALLOC_TRIM_SECONDS", "0")
    clock = Clock()
    trimmer = HeapTrimmer(clock=clock)
    clock.now += 10**6
    assert not trimmer.run_ended()
    assert trimmer.trims == 0


@pytest.mark.skipif(not ON_GLIBC, reason="malloc_trim is glibc's")
def test_freed_heap_scattered_over_thread_arenas_is_given_back() -> None:
    """What a server's runs leave: blocks freed on many threads, a few kept between them, so
    no arena can shrink by itself. The process's resident size falls when a run ends."""
    script = textwrap.dedent("""
        import threading
        from runwright.heap import HeapTrimmer

        def rss_kib():
            with open("/proc/self/status") as status:
                return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))

        kept = []

        def run():
            blocks = [bytearray(2048) for _ in range(20_000)]  # 40 MB in this thread's arena
            kept.extend(blocks[::50])  # a block kept every 100 KB: the arena cannot shrink
            del blocks

        for _ in range(4):
            thread = threading.Thread(target=run)
            thread.start()
            thread.join()
        before = rss_kib()
        clock = [0.0]
        trimmer = HeapTrimmer(seconds=1, clock=lambda: clock[0])
        clock[0] = 2.0
        assert trimmer.run_ended()
        print(before, rss_kib())
    """)
    shown = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    before, after = map(int, shown.stdout.split())
    # 30 to 70 MB of free pages stay resident (how many depends on the arenas the threads got)
    assert before - after > 25_000, (before, after)
