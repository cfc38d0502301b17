"""Runs on a long-lived Dask cluster keep nothing per run once they ended: not in the driver
(scopes, run state, traces, cluster clients), not on the scheduler (the tasks, and the events
and variables the cancel wiring makes per task). Counted, never measured: after 3 and after 8
runs the counts are the same."""

from __future__ import annotations

import gc
import time

import distributed
from runwright import Status
from runwright_dask.worker import CANCEL_POLL_SECONDS

from tests.test_memory_per_run import live_per_run_objects

#: A matrix whose first strategy fails: fail-fast cancels the others (the cancel event and
#: reason are made on the scheduler), and a job of its own that succeeds.
CONF = """
spread:
  type: Workflow
  jobs:
    square:
      runs-on: {type: dask, address: "${DASK_ADDRESS}"}
      strategy: {matrix: {n: [1, 2, 3]}, fail-fast: true}
      stages:
        - id: calc
          run: |
            import time
            if ${{ matrix.n }} == 1:
                raise ValueError("one")
            time.sleep(2)
    alone:
      runs-on: {type: dask, address: "${DASK_ADDRESS}"}
      stages:
        - {id: hello, echo: hello}
"""


def per_run_state(cluster) -> dict[str, int]:
    """Live per-run objects here and what the scheduler holds, once the last run's tasks are gone."""
    scheduler = cluster.scheduler
    deadline = time.monotonic() + 30
    while scheduler.tasks and time.monotonic() < deadline:  # forgotten once the client left
        time.sleep(0.05)
    time.sleep(3 * CANCEL_POLL_SECONDS)  # the workers' cancel watchers' last wait times out
    counts = live_per_run_objects()
    counts["Client"] = sum(1 for thing in gc.get_objects() if isinstance(thing, distributed.Client))
    counts["scheduler tasks"] = len(scheduler.tasks)
    counts["scheduler events"] = len(scheduler.extensions["events"]._events)
    counts["scheduler variables"] = len(scheduler.extensions["variables"].variables)
    return counts


def test_runs_on_a_cluster_leave_nothing_behind(workflow_from, dask_cluster, dask_address) -> None:
    workflow = workflow_from(CONF)
    counts = {}
    for n in range(1, 9):
        result = workflow.execute()
        assert result.status is Status.FAILED
        assert result.context["jobs"]["alone"]["status"] == "SUCCESS"
        if n in (3, 8):
            counts[n] = per_run_state(dask_cluster)
    assert counts[8] == counts[3]
    assert counts[8]["scheduler tasks"] == 0
