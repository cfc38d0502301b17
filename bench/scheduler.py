"""Scheduler benchmark: start-up with N templates, and how long one tick takes to claim.

    uv run python bench/scheduler.py                 # 1,000 and 10,000 scheduled workflows
    uv run python bench/scheduler.py --sizes 1000
    uv run python bench/scheduler.py --postgres      # also PostgreSQL (a server started here)

For N workflows (100 to a file) that all tick every minute:

- ``load s``: ``Scheduler.start()``, what ``runwright scheduler`` does before its first wait
  (read the conf folder, validate every ``on:``, recover crashed releases, print the summary).
  Goal: under 2 s for 10,000.
- ``warm s``: validating every workflow in full, which the scheduler does while it waits for
  its first tick (a tick that comes first builds the workflows it releases itself).
- ``decide ms``/``claim ms``: one wake-up: pop every due (workflow, tick) from the heap, then
  claim each release in the audit store (``Scheduler.claim``), for the file, SQLite and (with
  --postgres) PostgreSQL backends. Goal: under 1 s for 10,000.
- ``process s`` (one line per size): a fresh ``runwright scheduler`` process, from exec to its
  first wait and exit (``--simulate-from T --until T``), median of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from runwright.audit import make_audit_backend
from runwright.schedule.clock import SimulatedClock
from runwright.schedule.scheduler import Scheduler

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def write_conf(folder: Path, count: int, per_file: int = 100) -> None:
    """``count`` workflows, ``per_file`` to a file (one huge file would pass the template size cap)."""
    folder.mkdir(parents=True)
    for start in range(0, count, per_file):
        lines = []
        for i in range(start, min(start + per_file, count)):
            lines += [
                f"wf-{i:05d}:",
                "  type: Workflow",
                "  on: [{cronjob: '* * * * *'}]",
                "  jobs: {j: {stages: [{id: s, echo: x}]}}",
            ]
        (folder / f"many-{start // per_file:04d}.yml").write_text("\n".join(lines) + "\n")


def measure(count: int, url: str, conf: Path) -> dict[str, float]:
    audit = make_audit_backend(url)
    scheduler = Scheduler(conf, audit=audit, clock=SimulatedClock(T0 + timedelta(seconds=30)))
    started = time.perf_counter()
    scheduler.start()
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    scheduler.warm_up(T0 + timedelta(days=1))
    warm_s = time.perf_counter() - started
    now = T0 + timedelta(minutes=1)
    started = time.perf_counter()
    due = scheduler.due(now)
    decide_s = time.perf_counter() - started
    started = time.perf_counter()
    claimed = scheduler.claim(due)
    claim_s = time.perf_counter() - started
    audit.close()
    assert len(due) == count and len(claimed) == count, (url, len(due), len(claimed))
    return {"load_s": load_s, "warm_s": warm_s, "decide_s": decide_s, "claim_s": claim_s}


def fresh_process(conf: Path, tmp: str, repeat: int) -> float:
    """Median wall time of ``runwright scheduler`` in a new process, up to its first wait."""
    start = (T0 + timedelta(seconds=30)).isoformat()
    command = [sys.executable, "-m", "runwright", "scheduler", "--conf", str(conf)]
    command += ["--simulate-from", start, "--until", start]
    env = {**os.environ, "RUNWRIGHT_AUDIT_URL": f"sqlite:///{tmp}/process.db"}
    walls = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(command, env=env, check=True, capture_output=True)
        walls.append(time.perf_counter() - started)
    return statistics.median(walls)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--postgres", action="store_true", help="start a PostgreSQL (initdb) and add it")
    parser.add_argument("--only", default="", help="comma list of backend names to measure (default: all)")
    parser.add_argument("--repeat", type=int, default=3, help="fresh processes per size (0: none)")
    args = parser.parse_args()
    only = [name.strip() for name in args.only.split(",") if name.strip()]
    server = None
    if args.postgres:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from tests.postgres_server import start_postgres

        server = start_postgres()
    print(
        f"{'workflows':>9} {'backend':<15} {'load s':>7} {'warm s':>7} {'decide ms':>10} {'claim ms':>9} "
        f"{'tick ms':>8}"
    )
    for count in [int(s) for s in args.sizes.split(",")]:
        with tempfile.TemporaryDirectory(prefix="rw-sched-bench-") as tmp:
            conf = Path(tmp) / "conf"
            write_conf(conf, count)
            backends = (
                ("file", f"file://{tmp}/audits"),
                ("file, no fsync", f"file://{tmp}/audits-nofsync?fsync=0"),
                ("sqlite", f"sqlite:///{tmp}/audit.db"),
            )
            if server is not None:
                backends += (("postgresql", server.database_url(f"bench_{count}")),)
            for name, url in backends if not only else [b for b in backends if b[0] in only]:
                figures = measure(count, url, conf)
                tick = figures["decide_s"] + figures["claim_s"]
                print(
                    f"{count:>9} {name:<15} {figures['load_s']:>7.2f} {figures['warm_s']:>7.2f} "
                    f"{figures['decide_s'] * 1000:>10.1f} {figures['claim_s'] * 1000:>9.1f} {tick * 1000:>8.1f}"
                )
            if args.repeat:
                print(f"{count:>9} {'process s':<15} {fresh_process(conf, tmp, args.repeat):>7.2f}")
    if server is not None:
        server.stop()


if __name__ == "__main__":
    main()
