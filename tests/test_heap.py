"""A long-running process gives the C heap's free pages back to the operating system when its
runs end (glibc's ``malloc_trim``), at most once per interval, never in a short command."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from runwright.heap import HeapTrimmer, glibc_malloc_trim

from tests.api.conftest import start_server, stop_server

ON_GLIBC = glibc_malloc_trim() is not None
#: glibc's ``HEAP_MAX_SIZE`` on 64-bit: each arena but the main one is a heap of this many bytes,
#: mapped at a multiple of it (part read-write, the rest reserved)
ARENA_HEAP_BYTES = 64 * 1024 * 1024


def thread_arenas(pid: int) -> int:
    """How many malloc arenas process ``pid`` has besides the main one, read from its memory map:
    anonymous mappings that start on a 64 MiB boundary and run on, contiguous, for 64 MiB."""
    spans = []
    with open(f"/proc/{pid}/maps") as maps:
        for line in maps:
            fields = line.split()
            if len(fields) == 5:  # anonymous: no file, no [stack] or [heap]
                start, end = (int(address, 16) for address in fields[0].split("-"))
                spans.append((start, end))
    arenas = 0
    for index, (start, end) in enumerate(spans):
        if start % ARENA_HEAP_BYTES:
            continue
        reach = end
        for next_start, next_end in spans[index + 1 :]:
            if next_start != reach or reach >= start + ARENA_HEAP_BYTES:
                break
            reach = next_end
        arenas += reach == start + ARENA_HEAP_BYTES
    return arenas


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


def environ_without_arena_settings() -> dict[str, str]:
    """This environment without the two settings that cap arenas (the tests set their own)."""
    return {k: v for k, v in os.environ.items() if k not in ("RUNWRIGHT_MALLOC_ARENAS", "MALLOC_ARENA_MAX")}


ARENAS_OF_EIGHT_THREADS = textwrap.dedent("""
    import os, sys, threading
    sys.path.insert(0, sys.argv[1])
    from runwright.heap import limit_malloc_arenas
    from tests.test_heap import thread_arenas

    limit_malloc_arenas()
    both_ready = threading.Barrier(9)

    def allocate():
        kept = [bytearray(100_000) for _ in range(10)]  # from malloc, in this thread's arena
        both_ready.wait(timeout=30)  # all alive at once: none inherits an ended thread's arena
        both_ready.wait(timeout=30)

    threads = [threading.Thread(target=allocate) for _ in range(8)]
    for thread in threads:
        thread.start()
    both_ready.wait(timeout=30)
    print(thread_arenas(os.getpid()))
    both_ready.wait(timeout=30)
""")


@pytest.mark.skipif(not ON_GLIBC, reason="malloc arenas are glibc's")
@pytest.mark.parametrize(
    ("env", "arenas"),
    [
        ({}, lambda n: n == 1),  # the default cap, 2: the main arena and one more
        ({"RUNWRIGHT_MALLOC_ARENAS": "3"}, lambda n: n == 2),
        ({"RUNWRIGHT_MALLOC_ARENAS": "0"}, lambda n: n >= 3),  # glibc's own: one per thread
        ({"MALLOC_ARENA_MAX": "4"}, lambda n: n == 3),  # the deployment's setting wins
    ],
    ids=["default", "three", "off", "MALLOC_ARENA_MAX"],
)
def test_threads_of_a_long_running_process_share_a_few_malloc_arenas(env, arenas) -> None:
    """Eight threads allocating at once get an arena each by glibc's default (up to eight per
    core): memory freed in each stays scattered over all of them. Capped, they share."""
    clean = environ_without_arena_settings()
    shown = subprocess.run(
        [sys.executable, "-c", ARENAS_OF_EIGHT_THREADS, str(Path(__file__).parent.parent)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**clean, **env},
    )
    assert shown.returncode == 0, shown.stderr
    assert arenas(int(shown.stdout)), shown.stdout


HELD_RUNS = """
held:
  type: Workflow
  params:
    file: str
  jobs:
    hold:
      stages:
        - id: s
          bash: 'echo "$PPID" > "${{ params.file }}"; sleep 2'
"""


@pytest.mark.skipif(not ON_GLIBC, reason="malloc arenas are glibc's")
def test_a_server_and_its_worker_cap_their_malloc_arenas(tmp_path: Path) -> None:
    """``runwright serve --workers 1``: twelve runs at once take twelve of the worker's run
    threads; the server and the worker each stay at the cap (2: one arena besides the main)."""
    clean = {"RUNWRIGHT_MALLOC_ARENAS": "", "MALLOC_ARENA_MAX": ""}
    running = start_server(tmp_path, extra_args=("--workers", "1"), conf_text=HELD_RUNS, env=clean)
    try:
        run_ids = [running.trigger("held", {"file": str(tmp_path / f"pid-{n}")}) for n in range(12)]
        deadline = time.monotonic() + 60
        while not all((tmp_path / f"pid-{n}").exists() for n in range(12)):
            assert time.monotonic() < deadline, "the runs did not all start"
            time.sleep(0.05)
        worker = int((tmp_path / "pid-0").read_text())
        assert worker != running.process.pid
        during = thread_arenas(worker), thread_arenas(running.process.pid)
        for run_id in run_ids:
            assert running.wait_status(run_id)["status"] == "SUCCESS"
        assert during == (1, 1)
        assert thread_arenas(worker) == 1
    finally:
        stop_server(running)


MINUTELY_HELD = """
held:
  type: Workflow
  on: [{{cronjob: "* * * * *"}}]
  jobs:
    hold:
      stages:
        - id: s
          bash: 'echo "$PPID" > "{folder}/pid-$RUNWRIGHT_RUN_ID"; sleep 2'
"""


@pytest.mark.skipif(not ON_GLIBC, reason="malloc arenas are glibc's")
def test_a_scheduler_caps_its_malloc_arenas(tmp_path: Path) -> None:
    """``runwright scheduler`` running eight releases at once stays at the cap."""
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "held.yml").write_text(MINUTELY_HELD.format(folder=tmp_path))
    clean = environ_without_arena_settings()
    scheduler = subprocess.Popen(
        [
            sys.executable, "-m", "runwright", "scheduler", "--conf", str(conf), "--workers", "8",
            "--simulate-from", "2024-01-01T00:00:00+00:00", "--until", "2024-01-01T00:08:00+00:00",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={
            **clean,
            "RUNWRIGHT_AUDIT_URL": f"file://{tmp_path / 'audits'}",
            "RUNWRIGHT_LOG_PATH": str(tmp_path / "logs"),
        },
    )
    try:
        deadline = time.monotonic() + 60
        while len(list(tmp_path.glob("pid-*"))) < 8:
            assert scheduler.poll() is None, scheduler.stderr.read() if scheduler.stderr else ""
            assert time.monotonic() < deadline, "the releases did not all start"
            time.sleep(0.05)
        assert {int(path.read_text()) for path in tmp_path.glob("pid-*")} == {scheduler.pid}
        assert thread_arenas(scheduler.pid) == 1
        _, errors = scheduler.communicate(timeout=60)
        assert scheduler.returncode == 0, errors
    finally:
        if scheduler.poll() is None:
            scheduler.kill()
            scheduler.wait(timeout=10)


#: Python for a ``run:`` stage (a thread of the process that runs it): how many of seven freed
#: 1,000-byte blocks malloc took back, rather than the thread's cache keeping them (0 with glibc's
#: default tcache, 7,056 with ``tcache_count=0``), then the process's pid and GLIBC_TUNABLES.
#: ``mallinfo2`` counts the whole process, and the process's other threads (heartbeats, trace
#: flushing) allocate and free meanwhile: the median of seven tries is one no other thread moved.
THREAD_CACHE_PROBE = """
import ctypes, os, statistics
class MallocInfo(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]
libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallocInfo
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
tries = []
for _ in range(7):
    blocks = [libc.malloc(1000) for _ in range(7)]
    in_use = libc.mallinfo2().uordblks
    for block in blocks:
        libc.free(block)
    tries.append(in_use - libc.mallinfo2().uordblks)
taken_back = statistics.median(tries)
with open(PROBE_FILE, "w") as probe:
    probe.write(f"{taken_back} {os.getpid()} {os.environ.get('GLIBC_TUNABLES', 'unset')}")
"""


def read_probe(path: Path) -> tuple[int, int, str]:
    """(bytes malloc took back, pid, GLIBC_TUNABLES) as :data:`THREAD_CACHE_PROBE` wrote them."""
    taken_back, pid, tunables = path.read_text().split(" ", 2)
    return int(float(taken_back)), int(pid), tunables


def probe_stage(file_expression: str) -> str:
    code = THREAD_CACHE_PROBE.replace("PROBE_FILE", file_expression)
    return "        - id: probe\n          run: |\n" + textwrap.indent(code.strip("\n"), " " * 12) + "\n"


ENVIRONMENT_SEEN = (
    """
seen:
  type: Workflow
  params:
    folder: str
  jobs:
    look:
      stages:
        - id: s
          bash: 'echo "${GLIBC_TUNABLES-unset} ${RUNWRIGHT_SAVED_GLIBC_TUNABLES-unset}" > "${{ params.folder }}/seen"'
"""
    + probe_stage('"${{ params.folder }}/probe"')
)
USER_TUNABLES = "glibc.malloc.mmap_threshold=262144"


@pytest.mark.skipif(not ON_GLIBC, reason="glibc's tunables")
@pytest.mark.parametrize("workers", [1, 0], ids=["worker", "server threads"])
@pytest.mark.parametrize("tunables", [None, USER_TUNABLES], ids=["no tunables", "the user's tunables"])
def test_a_server_restarts_once_with_thread_caches_off_and_its_runs_see_the_environment_as_given(
    tmp_path: Path, workers: int, tunables: str | None
) -> None:
    """``runwright serve`` restarts itself (same pid) with glibc's per-thread cache off, its worker
    starts with it off too, a run's processes and code see ``GLIBC_TUNABLES`` exactly as the
    server was given it, and a misspelt setting is warned of once, not once per start."""
    env = {"RUNWRIGHT_MALLOC_THREAD_CACHE": "", "RUNWRIGHT_TUNABLE_TYPO": "1"}
    env.update({"GLIBC_TUNABLES": tunables} if tunables else {})
    base = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "environ", base)
        running = start_server(tmp_path, extra_args=("--workers", str(workers)), conf_text=ENVIRONMENT_SEEN, env=env)
    try:
        run_id = running.trigger("seen", {"folder": str(tmp_path)})
        assert running.wait_status(run_id)["status"] == "SUCCESS"
        assert (tmp_path / "seen").read_text().split() == [tunables or "unset", "unset"]
        taken_back, pid, seen_tunables = read_probe(tmp_path / "probe")
        assert taken_back >= 7_000  # no thread cache kept them
        assert seen_tunables == (tunables or "unset")
        assert (pid != running.process.pid) if workers else (pid == running.process.pid)
    finally:
        stop_server(running)
    assert running.printed.count("RUNWRIGHT_TUNABLE_TYPO") == 1, running.printed


MINUTELY_PROBE = (
    """
probed:
  type: Workflow
  on: [{cronjob: "* * * * *"}]
  jobs:
    look:
      stages:
"""
    + probe_stage('"FOLDER/probe-" + __import__("os").environ.get("RUNWRIGHT_RUN_ID", "")')
)


@pytest.mark.skipif(not ON_GLIBC, reason="glibc's tunables")
@pytest.mark.parametrize(
    ("setting", "tunables", "thread_cache_off"),
    [
        ("", None, True),
        ("default", None, False),
        ("", "glibc.malloc.tcache_count=3", False),
        ("", USER_TUNABLES, True),
    ],
    ids=["default setting", "RUNWRIGHT_MALLOC_THREAD_CACHE=default", "the user's tcache_count wins", "the user's tunables"],
)
def test_a_scheduler_restarts_with_the_thread_cache_setting_unless_told_otherwise(
    tmp_path: Path, setting: str, tunables: str | None, thread_cache_off: bool
) -> None:
    """``runwright scheduler`` restarts once (same pid) with glibc's per-thread cache off; its
    releases see ``GLIBC_TUNABLES`` as given. ``default``, or a ``tcache_count`` of the user's
    own, leaves the cache as glibc sets it."""
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "probed.yml").write_text(MINUTELY_PROBE.replace("FOLDER", str(tmp_path)))
    env = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"}
    env.update(
        {
            "RUNWRIGHT_AUDIT_URL": f"file://{tmp_path / 'audits'}",
            "RUNWRIGHT_LOG_PATH": str(tmp_path / "logs"),
            "RUNWRIGHT_MALLOC_THREAD_CACHE": setting,
        }
    )
    env.update({"GLIBC_TUNABLES": tunables} if tunables else {})
    scheduler = subprocess.run(
        [
            sys.executable, "-m", "runwright", "scheduler", "--conf", str(conf),
            "--simulate-from", "2024-01-01T00:00:30+00:00", "--until", "2024-01-01T00:01:30+00:00",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert scheduler.returncode == 0, scheduler.stderr
    [probe] = tmp_path.glob("probe-*")
    taken_back, _, seen_tunables = read_probe(probe)
    assert (taken_back >= 7_000) if thread_cache_off else (taken_back < 5_000), taken_back  # 3 kept: 4,032
    assert seen_tunables == (tunables or "unset")
