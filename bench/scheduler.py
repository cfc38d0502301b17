"""Scheduler benchmark: how long one tick takes to decide what is due and claim it.

    uv run python bench/scheduler.py                 # 1,000 and 10,000 scheduled workflows
    uv run python bench/scheduler.py --sizes 1000

For N workflows that all tick every minute, it loads them into a Scheduler (not timed), then
times one wake-up: pop every due (workflow, tick) from the heap and claim each release in the
audit store, for the file and the SQLite backends. Goal: under 1 s for 10,000.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from runwright.audit import ReleaseType, make_audit_backend
from runwright.schedule.clock import SimulatedClock
from runwright.schedule.release import new_record
from runwright.schedule.scheduler import Scheduler

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def write_conf(folder: Path, count: int) -> None:
    lines = []
    for i in range(count):
        lines += [
            f"wf-{i:05d}:",
            "  type: Workflow",
            "  on: [{cronjob: '* * * * *'}]",
            "  jobs: {j: {stages: [{id: s, echo: x}]}}",
        ]
    folder.mkdir(parents=True)
    (folder / "many.yml").write_text("\n".join(lines) + "\n")


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
    assert len(due) == count and all(claimed)
    return {"load_s": load_s, "decide_s": decide_s, "claim_s": claim_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000")
    args = parser.parse_args()
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
            for name, url in backends:
                figures = measure(count, url, conf)
                tick = figures["decide_s"] + figures["claim_s"]
                print(
                    f"{count:>9} {name:<15} {figures['load_s']:>7.2f} {figures['decide_s'] * 1000:>10.1f} "
                    f"{figures['claim_s'] * 1000:>9.1f} {tick * 1000:>8.1f}"
                )


if __name__ == "__main__":
    main()
