"""Dask executor benchmark: per-job overhead (dask vs local) and 200 sleeping jobs.

    uv run python bench/dask_executor.py [--jobs 200] [--overhead-jobs 50]

A LocalCluster of 2 worker processes x 4 threads on 127.0.0.1 is started once (its start time is
printed, not counted). Per-job overhead: N no-op jobs run one at a time (max-parallel 1), wall
time / N, so it is the round trip of one job: ship the task, rebuild the workflow (cached per
worker), run, replay the trace. Throughput: 200 independent jobs that each sleep 0.1 s, 8 jobs
in flight, on the cluster vs the local thread pool.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path


def workflow_text(name: str, jobs: int, runs_on: str, stage: str) -> str:
    lines = [f"{name}:", "  type: Workflow", f"  runs-on: {runs_on}", "  jobs:"]
    lines += [f"    j{i}: {{stages: [{stage}]}}" for i in range(jobs)]
    return "\n".join(lines) + "\n"


def timed(conf: Path, name: str, parallel: int) -> float:
    from runwright import Workflow

    workflow = Workflow.from_conf(name, conf)
    started = time.perf_counter()
    result = workflow.execute(max_job_parallel=parallel, trace=True)
    wall = time.perf_counter() - started
    assert result.status.value == "SUCCESS", result.errors
    return wall


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--overhead-jobs", type=int, default=50)
    parser.add_argument("--samples", type=int, default=3)
    args = parser.parse_args()
    from distributed import LocalCluster

    started = time.perf_counter()
    cluster = LocalCluster(
        n_workers=2, threads_per_worker=4, processes=True, dashboard_address=None, host="127.0.0.1"
    )
    print(f"LocalCluster 2 workers x 4 threads started in {time.perf_counter() - started:.2f} s")
    dask = f'{{type: dask, address: "{cluster.scheduler_address}"}}'
    conf = Path(tempfile.mkdtemp(prefix="runwright-bench-dask-"))
    noop, sleep = "{id: s, run: 'x = 1'}", "{id: s, echo: z, sleep: 0.1}"
    n, m = args.overhead_jobs, args.jobs
    (conf / "bench.yml").write_text(
        workflow_text("noop_local", n, "local", noop)
        + workflow_text("noop_dask", n, dask, noop)
        + workflow_text("sleep_local", m, "local", sleep)
        + workflow_text("sleep_dask", m, dask, sleep)
    )
    try:
        timed(conf, "noop_dask", 1)  # warm the workers: imports, plugins, the workflow cache
        rows = [
            ("per-job overhead, local", "noop_local", 1, n),
            ("per-job overhead, dask", "noop_dask", 1, n),
            (f"{m} jobs x sleep 0.1 s, local pool (8 threads)", "sleep_local", 8, 0),
            (f"{m} jobs x sleep 0.1 s, dask 2x4", "sleep_dask", 8, 0),
        ]
        print(f"{'measure':48} {'median':>10}  samples")
        for label, name, parallel, per in rows:
            walls = [timed(conf, name, parallel) for _ in range(args.samples)]
            median = statistics.median(walls)
            shown = f"{median / per * 1000:.1f} ms" if per else f"{median:.2f} s"
            print(f"{label:48} {shown:>10}  " + ", ".join(f"{w:.2f}" for w in walls))
        print(f"ideal for {m} x 0.1 s on 8 slots: {m * 0.1 / 8:.2f} s")
    finally:
        cluster.close()


if __name__ == "__main__":
    main()
