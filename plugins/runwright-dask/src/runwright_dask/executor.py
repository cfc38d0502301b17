"""Run jobs and matrix strategies as Dask tasks; replay their results into the run.

Driver side: one thread per job in flight submits a :class:`~runwright.engine.job_task.JobTask`
and waits for it, wiring the job's cancel scope to a ``distributed.Variable`` the worker-side
task watches. A worker that dies mid-job gives ``worker-lost`` (resubmitted ``retries`` times).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from distributed import Client, Event, LocalCluster, Variable
from distributed.scheduler import KilledWorker
from runwright.engine.context import CancelScope
from runwright.engine.job_task import (
    JobTask,
    JobTaskResult,
    apply_job_result,
    make_job_task,
    strategy_runner,
    worker_lost_result,
)
from runwright.engine.result import Status, error_record
from runwright.engine.slots import held_slots
from runwright.models.base import slugify

from runwright_dask.worker import (
    CANCEL_POLL_SECONDS,
    cancel_event,
    cancel_reason,
    run_on_worker,
    started_event,
)

if TYPE_CHECKING:
    from runwright.engine.runner import WorkflowRunner

CONNECT_TIMEOUT_SECONDS = 30


class DaskExecutor:
    """A ``concurrent.futures``-style executor whose jobs run on a Dask cluster.

    No ``address``: a temporary ``LocalCluster`` lives as long as the run; all of it, dashboard
    included, listens on 127.0.0.1 only.
    """

    def __init__(self, max_workers: int, address: str | None = None, retries: int = 0) -> None:
        self.retries = retries
        self.cluster: LocalCluster | None = None
        if address:
            self.client = Client(address, timeout=CONNECT_TIMEOUT_SECONDS, set_as_default=False)
        else:
            self.cluster = LocalCluster(processes=True, dashboard_address="127.0.0.1:0", host="127.0.0.1")
            self.client = Client(self.cluster, set_as_default=False)
        self.driver = ThreadPoolExecutor(max_workers, thread_name_prefix="runwright-dask")

    # -- the concurrent.futures interface ------------------------------------------------

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        """Run a picklable callable on the cluster (a bound ``run_job`` is not one)."""
        return self.driver.submit(lambda: self.client.submit(fn, *args, pure=False, **kwargs).result())

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        self.driver.shutdown(wait=wait, cancel_futures=cancel_futures)
        self.client.close()
        if self.cluster is not None:
            time.sleep(CANCEL_POLL_SECONDS)  # let finished tasks' cancel watchers end first
            self.cluster.close()

    # -- jobs ----------------------------------------------------------------------------

    def submit_job(self, runner: WorkflowRunner, job_id: str) -> Future[Status]:
        """A job is one task; a matrix job's strategies are one task each."""
        if runner.workflow.jobs[job_id].strategy is not None:
            strategies = strategy_runner(runner, job_id, self._run_strategy)
            return self.driver.submit(runner.run_job, job_id, strategy_stages=strategies)
        return self.driver.submit(self._run_job, runner, job_id)

    def _run_job(self, runner: WorkflowRunner, job_id: str) -> Status:
        """The job's group and pool are held here, on the driver, while a worker runs it."""
        record: dict[str, Any] = {"status": "RUNNING", "stages": {}}
        try:
            claims = runner.job_slot_claims(job_id)
        except Exception as exc:  # the group expression failed
            return runner.job_failed_early(job_id, record, exc)
        with held_slots(runner.state, claims, runner.state.scope, {"job": job_id}) as (verdict, scope):
            if not verdict.held:
                return runner.job_not_run(job_id, record, verdict)
            return self._run_job_remotely(runner, job_id, scope)

    def _run_job_remotely(self, runner: WorkflowRunner, job_id: str, scope: CancelScope) -> Status:
        lost: list[dict[str, Any]] = []
        while True:
            result = self._run_remote(make_job_task(runner, job_id), scope)
            if result.lost and len(lost) < self.retries and not scope.cancelled:
                lost.extend(result.errors)
                runner.state.trace.event(
                    "job-retry", f"worker lost; resubmitting (attempt {len(lost) + 1})", job=job_id
                )
                continue
            return apply_job_result(runner, job_id, result, lost)

    def _run_strategy(self, task: JobTask, scope: CancelScope) -> JobTaskResult:
        """One strategy; resubmitted up to ``retries`` times when its worker is lost."""
        for attempt in range(self.retries + 1):
            result = self._run_remote(task, scope)
            if not result.lost or attempt == self.retries or scope.cancelled:
                break
        return result

    def _run_remote(self, task: JobTask, scope: CancelScope) -> JobTaskResult:
        """Submit one task and wait for it; cancel reaches it; never hangs on a dead worker."""
        where = f"{task.job_id}-{task.strategy.sid}" if task.strategy else task.job_id
        key = f"runwright-{task.run_id}-{slugify(where)}-{uuid.uuid4().hex[:8]}"
        future = self.client.submit(run_on_worker, task, key, key=key, pure=False, retries=0)
        finished = threading.Event()
        future.add_done_callback(lambda _: finished.set())
        signalled = False
        try:
            while not finished.wait(0.2):
                if scope.cancelled and not signalled:
                    Variable(cancel_reason(key), client=self.client).set(scope.reason or "cancelled")
                    Event(cancel_event(key), client=self.client).set()
                    signalled = True
            try:
                return future.result()
            except KilledWorker as exc:
                return worker_lost_result(task.job_id, "", str(exc))
            except Exception as exc:  # the task could not run (unpicklable value, cluster gone)
                error = error_record(exc, job=task.job_id)
                record = {"status": "FAILED", "reason": f"dask: {error['message']}", "stages": {}}
                job_record = {} if task.strategy else {**record, "errors": [error]}
                return JobTaskResult(Status.FAILED.value, job_record, [error])
        finally:
            try:
                Event(started_event(key), client=self.client).clear()
                if signalled:
                    Event(cancel_event(key), client=self.client).clear()
                    Variable(cancel_reason(key), client=self.client).delete()
            except Exception:  # the cluster went away; nothing to tidy
                pass
