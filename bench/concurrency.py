"""Concurrency slots: what a lease costs a run, and how soon a freed slot is taken elsewhere.

    uv run python bench/concurrency.py                      # file, SQLite and PostgreSQL
    uv run python bench/concurrency.py --stores sqlite --runs 2000

Per store:
- **acquire + release per run**: ``StoreSlots.holding`` of one free group slot (what a run with
  ``concurrency:`` pays when nobody else is in the group), ``--runs`` times in a row; the mean
  and the p99, in ms. Goal: under 2 ms on SQLite, under 5 ms on PostgreSQL.
- **wake-up delay**: a holder in this process, a waiter in another process; this process
  releases, and the waiter notes when it holds the slot. The delay from release to held, p50
  and p99 over ``--wakes`` rounds. Goal: under 1 s (the waiter polls with a back-off capped at
  0.5 s; within one process a release wakes waiters at once).

PostgreSQL runs on a server the script starts (initdb/pg_ctl, as the tests do); it is left out
when those programs are missing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

WAITER = r"""
import sys, time
from runwright.audit import make_audit_backend
from runwright.engine.context import CancelScope
from runwright.engine.slots import SlotClaim
from runwright.runtime import Runtime
from runwright.schedule.slots import StoreSlots

backend = make_audit_backend(sys.argv[1])
slots = StoreSlots(backend, "bench", "waiter", Runtime.default(), None)
print("ready", flush=True)
for line in sys.stdin:
    resource = line.strip()
    claim = SlotClaim(resource=resource, holder="waiter-" + resource, capacity=1)
    with slots.holding([claim], CancelScope()) as verdict:
        print(f"held {time.time()!r}", flush=True)
"""


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def cost_per_run(url: str, runs: int) -> tuple[float, float]:
    from runwright.audit import make_audit_backend
    from runwright.engine.context import CancelScope
    from runwright.engine.slots import SlotClaim
    from runwright.runtime import Runtime
    from runwright.schedule.slots import StoreSlots

    backend = make_audit_backend(url)
    slots = StoreSlots(backend, "bench", "cost", Runtime.default(), None)
    scope = CancelScope()
    timings = []
    for index in range(runs + 20):
        claim = SlotClaim(resource="group:cost", holder=f"run-{index}", capacity=1)
        started = time.perf_counter()
        with slots.holding([claim], scope) as verdict:
            assert verdict.held
        if index >= 20:  # warmed up: connections open, tables cached
            timings.append((time.perf_counter() - started) * 1000)
    backend.close()
    return statistics.mean(timings), percentile(timings, 0.99)


def wake_delays(url: str, rounds: int) -> list[float]:
    from datetime import timedelta

    from runwright.audit import LeaseRequest, LeaseState, make_audit_backend

    backend = make_audit_backend(url)
    waiter = subprocess.Popen(
        [sys.executable, "-c", WAITER, url], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert waiter.stdout is not None and waiter.stdin is not None
    assert waiter.stdout.readline().strip() == "ready"
    delays = []
    try:
        for index in range(rounds):
            resource = f"group:wake-{index}"
            request = LeaseRequest(
                resource=resource, holder="holder", capacity=1, run_id="holder", workflow="bench"
            )
            assert backend.acquire_lease(request, timedelta(seconds=30)) is LeaseState.HELD
            waiter.stdin.write(resource + "\n")
            waiter.stdin.flush()
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and len(backend.list_leases(resource)) < 2:
                time.sleep(0.01)
            time.sleep(0.3 + (index % 7) * 0.1)  # the waiter is somewhere in its back-off
            released = time.time()
            backend.release_lease(resource, "holder")
            line = waiter.stdout.readline().split()
            delays.append((float(line[1]) - released) * 1000)
    finally:
        waiter.stdin.close()
        waiter.wait(30)
        backend.close()
    return delays


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", default="file,sqlite,postgres")
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--wakes", type=int, default=30)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="runwright-bench-concurrency-"))
    urls = {"file": f"file://{folder / 'audits'}", "sqlite": f"sqlite:///{folder / 'audit.db'}"}
    server = None
    if "postgres" in args.stores:
        from tests.postgres_server import start_postgres

        try:
            server = start_postgres()
            urls["postgres"] = server.database_url("bench_concurrency")
        except Exception as exc:  # no initdb here
            print(f"postgres: left out ({exc})")
    os.environ.setdefault("RUNWRIGHT_LOG_PATH", str(folder / "logs"))
    print(f"{'store':10} {'acquire+release ms':>20} {'p99 ms':>8} {'wake p50 ms':>12} {'wake p99 ms':>12}")
    try:
        for store in args.stores.split(","):
            if store not in urls:
                continue
            mean, p99 = cost_per_run(urls[store], args.runs)
            delays = wake_delays(urls[store], args.wakes)
            print(
                f"{store:10} {mean:20.2f} {p99:8.2f} {percentile(delays, 0.5):12.0f} {percentile(delays, 0.99):12.0f}",
                flush=True,
            )
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
