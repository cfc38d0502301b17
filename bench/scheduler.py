"""Scheduler benchmark: how long one tick takes to decide what is due and claim it.

    uv run python bench/scheduler.py                 # 1,000 and 10,000 scheduled workflows
    uv run python bench/scheduler.py --sizes 1000
    uv run python bench/scheduler.py --postgres      # also PostgreSQL (a server started here)

For N workflows that all tick every minute, it loads them into a Scheduler (not timed), then
times one wake-up: pop every due (workflow, tick) from the heap and claim each release in the
audit store, for the file, SQLite and (with --postgres) PostgreSQL backends. Goal: under 1 s
for 10,000.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from runwright.audit import ReleaseType, make_audit_backend
from runwright.schedule.clock import SimulatedClock
from runwright.schedule.release import new_record
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
    scheduler.load()
    load_s = time.perf_counter() - started
    now = T0 + timedelta(minutes=1)
    started = time.perf_counter()
    due = scheduler.due(now)
    decide_s = time.perf_counter() - started
    started = time.perf_counter()
    records = [
        new_record(scheduler.workflows[entry.workflow], tick, ReleaseType.SCHEDULED, {})
        for entry, tick in due
    ]
    claimed = audit.claim_many(records)
    claim_s = time.perf_counter() - started
    audit.close()
    assert len(due) == count and all(claimed), (url, len(due), sum(claimed))
    return {"load_s": load_s, "decide_s": decide_s, "claim_s": claim_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--postgres", action="store_true", help="start a PostgreSQL (initdb) and add it")
    parser.add_argument("--only", default="", help="comma list of backend names to measure (default: all)")
    args = parser.parse_args()
    only = [name.strip() for name in args.only.split(",") if name.strip()]
    server = None
    if args.postgres:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from tests.postgres_server import start_postgres

        server = start_postgres()
    print(f"{'workflows':>9} {'backend':<15} {'load s':>7} {'decide ms':>10} {'claim ms':>9} {'tick ms':>8}")
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
                    f"{count:>9} {name:<15} {figures['load_s']:>7.2f} {figures['decide_s'] * 1000:>10.1f} "
                    f"{figures['claim_s'] * 1000:>9.1f} {tick * 1000:>8.1f}"
                )
    if server is not None:
        server.stop()


if __name__ == "__main__":
    main()
