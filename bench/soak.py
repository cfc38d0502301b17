"""Soak: does a scheduler or a server that runs for months grow? Resident memory per 10,000 runs.

    uv run python bench/soak.py                                  # 200,000 releases per store, 20,000 triggers
    uv run python bench/soak.py --releases 20000 --triggers 4000 # a quicker look
    uv run python bench/soak.py --only scheduler --stores sqlite

- ``scheduler``: ``Scheduler.run()`` without ``until`` (as ``runwright scheduler`` runs: restarted
  with glibc's per-thread cache as ``RUNWRIGHT_MALLOC_THREAD_CACHE`` says, malloc's arenas capped
  as ``RUNWRIGHT_MALLOC_ARENAS`` says) on a simulated clock, so a month of minutes passes in
  minutes; five workflows of two jobs each, every minute, on SQLite and on the file store
  (``fsync=0``), four releases at a time.
  Stopped after ``--releases`` releases (and the few already running).
- ``server``: ``runwright serve`` (each of ``--stores``, ``--workers`` worker processes) on 127.0.0.1;
  ``--triggers`` runs of a two-job workflow triggered through ``POST /api/v1/workflows/.../runs``
  in rounds of ``--round`` (8 clients), each round waited out; the resident memory is the
  server's plus its workers'.

Each scenario runs in a fresh process. Resident memory (``VmRSS``) is read after the warm-up
(``--warm-up`` runs: caches filled, the bounded lists of recent outcomes full) and at the end;
the growth per 10,000 runs after the warm-up is what a process that runs for months adds. Both
are also read often from the warm-up on (the server after every round, the scheduler every
1,000 releases), and the least-squares slope of those readings is printed beside the difference
of the first and the last (resident sizes go up and down by a MiB or two from one reading to the
next).
Goal: under 100 KB per 10,000 runs on both stores and for the server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from api import Connection, start  # bench/api.py: a server subprocess and a keep-alive client

BENCH = Path(__file__).resolve().parent
T0 = datetime(2024, 1, 1, tzinfo=UTC)
SCHEDULED = "\n".join(
    line
    for i in range(5)
    for line in (
        f"wf{i}:",
        "  type: Workflow",
        "  on: [{cronjob: '* * * * *'}]",
        "  jobs:",
        "    a: {stages: [{id: s, echo: x}]}",
        "    b: {needs: [a], stages: [{id: t, echo: y}]}",
    )
)
TRIGGERED = """
two:
  type: Workflow
  jobs:
    a: {stages: [{id: s, echo: x}]}
    b: {needs: [a], stages: [{id: t, echo: y}]}
"""


def rss_kib(pid: int | None = None) -> int:
    """Resident memory of a process (default: this one) in KiB, from ``/proc``."""
    status = Path(f"/proc/{pid or 'self'}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))


def thread_count(pid: int) -> int:
    """How many threads a process has (each new one touches a stack, maybe a malloc arena)."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("Threads:")))


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def growth_line(label: str, runs: int, warm_runs: int, warm_kib: int, end_kib: int, seconds: float) -> str:
    after = runs - warm_runs
    per_10k = (end_kib - warm_kib) * 10_000 / after if after > 0 else float("nan")
    return (
        f"{label:<22} {runs:>8,} runs in {seconds:>7.0f} s; RSS after {warm_runs:,} (warm-up) "
        f"{warm_kib / 1024:.1f} MiB, at the end {end_kib / 1024:.1f} MiB: "
        f"{per_10k:+.0f} KiB per 10,000 runs"
    )


# -- the scheduler (in a child process of its own) --------------------------------------------


def soak_scheduler(store: str, releases: int, warm_up: int, root: Path) -> str:
    """Run one scheduler on a simulated clock until ``releases`` releases ended."""
    os.environ["RUNWRIGHT_LOG_PATH"] = str(root / "logs")
    # the file store without fsync: memory is measured here, not durability (fsync makes each
    # release wait for the disk, 5 times slower on this machine)
    url = f"sqlite:///{root / 'audit.db'}" if store == "sqlite" else f"file://{root / 'audits'}?fsync=0"
    os.environ["RUNWRIGHT_AUDIT_URL"] = url
    (root / "conf").mkdir()
    (root / "conf" / "flows.yml").write_text(SCHEDULED + "\n")
    from runwright.heap import limit_malloc_arenas
    from runwright.schedule.clock import SimulatedClock
    from runwright.schedule.scheduler import Scheduler

    limit_malloc_arenas()  # as `runwright scheduler` does first (after its restart: main())
    scheduler = Scheduler(root / "conf", clock=SimulatedClock(T0), max_workers=4, grace_seconds=0)
    count = 0
    marks: dict[str, int] = {}
    lock = threading.Lock()
    started = time.monotonic()

    readings: list[tuple[int, int]] = []

    def listen(outcome: object) -> None:
        nonlocal count
        with lock:
            count += 1
            if count == warm_up:
                marks["warm"] = rss_kib()
            if count >= warm_up and count % 1_000 == 0:
                readings.append((count, rss_kib()))
            if count % 20_000 == 0:
                print(f"  {store}: {count:,} releases, RSS {rss_kib() / 1024:.1f} MiB", flush=True)
            if count >= releases:
                scheduler.stop()

    scheduler.outcome_listeners.append(listen)
    scheduler.run()
    end = rss_kib()
    line = growth_line(f"scheduler, {store}", count, warm_up, marks["warm"], end, time.monotonic() - started)
    if len(readings) >= 3:
        line += (
            f"\n{'':<22} fitted over {len(readings)} readings after the warm-up (one per 1,000): "
            f"{per_10k_fitted(readings, 1):+.0f} KiB per 10,000 runs"
        )
    return f"{line}\n{'':<22} load average at the end: {load_average()}"


# -- the server --------------------------------------------------------------------------------


def soak_server(triggers: int, warm_up: int, round_size: int, workers: int, store: str, root: Path) -> str:
    root.mkdir()
    process, base = start(root, store, workers, conf=TRIGGERED)
    assert process.stdout is not None
    threading.Thread(target=process.stdout.read, daemon=True).start()  # never let its pipe fill
    started = time.monotonic()
    try:
        marks = asyncio.run(_trigger_rounds(base, process.pid, triggers, warm_up, round_size))
    finally:
        process.terminate()
        process.wait(timeout=120)
    label = f"server, {store}, {workers} worker{'s' if workers != 1 else ''}"
    line = growth_line(label, triggers, warm_up, marks["warm"], marks["end"], time.monotonic() - started)
    own = (marks["own_end"] - marks["own_warm"]) * 10_000 / max(1, triggers - warm_up)
    readings = marks["readings"]
    fitted = ""
    if len(readings) >= 3:
        fitted = (
            f"\n{'':<22} fitted over {len(readings)} readings after the warm-up (one per round): "
            f"{per_10k_fitted(readings, 1):+.0f} KiB per 10,000 runs, the server process "
            f"{per_10k_fitted(readings, 2):+.0f}"
        )
    return (
        f"{line}\n{'':<22} of which the server process itself: {own:+.0f} KiB per 10,000 runs{fitted}"
        f"\n{'':<22} load average at the end: {load_average()}"
    )


def per_10k_fitted(readings: list[tuple[int, ...]], column: int) -> float:
    """The least-squares slope of resident KiB against runs, per 10,000 runs: less at the mercy
    of one high or low reading than the difference between the first and the last, as resident
    sizes go up and down by a MiB or two between readings."""
    slope, _ = statistics.linear_regression([r[0] for r in readings], [r[column] for r in readings])
    return slope * 10_000


def load_average() -> str:
    """The machine's load (1, 5, 15 minutes): the figures depend on what else ran."""
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


def server_rss_kib(pid: int) -> int:
    """The server's resident memory and its worker processes'."""
    total = rss_kib(pid)
    for child in children_of(pid):
        try:
            total += rss_kib(child)
        except (OSError, StopIteration):
            pass
    return total


async def _trigger_rounds(
    base: str, pid: int, triggers: int, warm_up: int, round_size: int
) -> dict[str, Any]:
    host, port = base.removeprefix("http://").split(":")
    body = json.dumps({"params": {}}).encode()
    marks: dict[str, Any] = {"readings": []}
    sent = 0
    while sent < triggers:
        # new connections each round: the server closes a keep-alive connection idle for 5 s
        clients = [Connection(host, int(port)) for _ in range(8)]
        batch = min(round_size, triggers - sent)
        numbers = iter(range(batch))

        async def client(connection: Connection, numbers: Iterator[int]) -> None:
            for _ in numbers:
                status, payload = await connection.request("POST", "/api/v1/workflows/two/runs", body)
                assert status == 202, payload

        await asyncio.gather(*(client(c, numbers) for c in clients))
        sent += batch
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:  # the round ended: nothing in flight when measured
            _, metrics = await clients[0].request("GET", "/api/v1/metrics")
            if b"runwright_active_runs 0" in metrics:
                break
            await asyncio.sleep(0.05)
        total, own = server_rss_kib(pid), rss_kib(pid)  # the round's reading
        if sent == warm_up:
            marks["warm"], marks["own_warm"] = total, own
        if sent >= warm_up:
            marks["readings"].append((sent, total, own))
        if sent % 5_000 == 0:
            threads = [thread_count(pid)] + [thread_count(child) for child in children_of(pid)]
            print(
                f"  server: {sent:,} triggers, RSS {total / 1024:.1f} MiB "
                f"(server {own / 1024:.1f}, workers {(total - own) / 1024:.1f}; "
                f"threads {' + '.join(map(str, threads))})",
                flush=True,
            )
        for connection in clients:
            connection.close()
    marks["end"], marks["own_end"] = server_rss_kib(pid), rss_kib(pid)
    return marks


# -- the driver -----------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--releases", type=int, default=200_000, help="releases per store (scheduler)")
    parser.add_argument("--triggers", type=int, default=20_000, help="runs triggered (server)")
    parser.add_argument(
        "--warm-up", type=int, default=None, help="runs before the first reading (default: a tenth)"
    )
    parser.add_argument("--stores", default="sqlite,file")
    parser.add_argument("--only", choices=["scheduler", "server"], default=None)
    parser.add_argument("--workers", type=int, default=1, help="serve --workers N (0: the server's threads)")
    parser.add_argument("--round", type=int, default=500, help="triggers per round (server)")
    parser.add_argument("--child", nargs=2, metavar=("KIND", "STORE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        from runwright import heap

        heap.started_as_command()  # the thread cache as `runwright scheduler` sets it: this
        heap.restart_with_thread_cache()  # process restarts once (exec), here, before any thread
    with tempfile.TemporaryDirectory(prefix="runwright-soak-") as folder:
        if args.child:
            warm = args.warm_up or max(2_000, args.releases // 10)
            print(soak_scheduler(args.child[1], args.releases, warm, Path(folder)), flush=True)
            return
        print(
            f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load average {load_average()}",
            flush=True,
        )
        if args.only in (None, "scheduler"):
            for store in args.stores.split(","):
                command = [sys.executable, str(BENCH / "soak.py"), "--child", "scheduler", store]
                command += ["--releases", str(args.releases)]
                if args.warm_up:
                    command += ["--warm-up", str(args.warm_up)]
                subprocess.run(command, check=True)
        if args.only in (None, "server"):
            warm = args.warm_up or max(args.round, args.triggers // 10 // args.round * args.round)
            for store in args.stores.split(","):
                root = Path(folder) / f"server-{store}"
                print(soak_server(args.triggers, warm, args.round, args.workers, store, root), flush=True)


if __name__ == "__main__":
    main()
