"""Executors run job work handed to them; the local one is a thread pool.

Registered through the executor hook exactly as the dask executor plugin is. A run makes one
executor per distinct ``runs-on:`` among its jobs (:class:`ExecutorPools`), on first use.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from runwright.hookspecs import hookimpl

if TYPE_CHECKING:
    from runwright.engine.runner import WorkflowRunner
    from runwright.models.runs_on import RunsOn
    from runwright.runtime import Runtime


def local_thread_executor(max_workers: int) -> ThreadPoolExecutor:
    """Threads in this process: right for orchestration, where stages wait on other systems."""
    return ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="runwright-job")


@hookimpl
def register_executors(register: Callable[[str, Callable[..., Any]], None]) -> None:
    register("local", local_thread_executor)


class ExecutorPools:
    """The executors of one run, one per distinct ``runs-on``, shut down when the run ends."""

    def __init__(self, runtime: Runtime, max_workers: int) -> None:
        self.runtime = runtime
        self.max_workers = max_workers
        self._pools: dict[tuple[Any, ...], Any] = {}
        self._failed: dict[tuple[Any, ...], Exception] = {}

    def get(self, runs_on: RunsOn) -> Any:
        """The run's executor for ``runs_on``; one that failed to start fails every job fast."""
        if runs_on.key in self._failed:
            raise self._failed[runs_on.key]
        pool = self._pools.get(runs_on.key)
        if pool is None:
            factory = self.runtime.executors[runs_on.type]
            try:
                pool = self._pools[runs_on.key] = factory(self.max_workers, **runs_on.options())
            except Exception as exc:
                self._failed[runs_on.key] = exc
                raise
        return pool

    def submit(self, runner: WorkflowRunner, job_id: str, runs_on: RunsOn) -> Future[Any]:
        """An executor with ``submit_job(runner, job_id)`` ships the job itself (to another
        process or host); any other runs the runner's ``run_job`` as a callable."""
        pool = self.get(runs_on)
        submit_job = getattr(pool, "submit_job", None)
        if submit_job is not None:
            return submit_job(runner, job_id)
        return pool.submit(runner.run_job, job_id)

    def shutdown(self) -> None:
        for pool in self._pools.values():
            pool.shutdown(wait=True)
        self._pools.clear()
