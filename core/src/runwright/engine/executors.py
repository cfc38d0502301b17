"""Executors run job work handed to them; the local one runs jobs on this process's threads.

Registered through the executor hook exactly as the dask executor plugin is. A run makes one
executor per distinct ``runs-on:`` among its jobs (:class:`ExecutorPools`), on first use.
"""

from __future__ import annotations

import functools
import os
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from typing import TYPE_CHECKING, Any

from runwright.hookspecs import hookimpl

if TYPE_CHECKING:
    from runwright.engine.runner import WorkflowRunner
    from runwright.models.runs_on import RunsOn
    from runwright.runtime import Runtime


MAX_PROCESS_JOB_THREADS = 1_000_000
"""No real limit, as when each run had its own pool: a job that waits for another run (a
trigger stage runs its workflow in this process) holds its thread, so a cap on the shared
threads could leave the waited-for run's jobs with none. Threads start only when none is idle."""

_process_threads: tuple[int, ThreadPoolExecutor] | None = None
_process_threads_lock = threading.Lock()


def process_job_threads() -> ThreadPoolExecutor:
    """The job threads of this process, shared by its runs: a thread that finished a job takes
    the next one, of any run, so a server starting hundreds of short runs starts no thread per
    run (that cost a fifth of a one-stage run). A new thread starts only when none is idle."""
    global _process_threads
    with _process_threads_lock:
        if _process_threads is None or _process_threads[0] != os.getpid():  # threads die in a fork
            pool = ThreadPoolExecutor(max_workers=MAX_PROCESS_JOB_THREADS, thread_name_prefix="runwright-job")
            _process_threads = (os.getpid(), pool)
        return _process_threads[1]


class LocalJobExecutor(Executor):
    """One run's jobs on the process's job threads, at most ``max_workers`` of them at a time
    (the rest wait here, in the order they were submitted)."""

    def __init__(self, max_workers: int) -> None:
        self.max_workers = max(1, max_workers)
        self._lock = threading.Lock()
        self._running = 0
        self._waiting: deque[tuple[Future[Any], Callable[[], Any]]] = deque()
        self._futures: list[Future[Any]] = []

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        call = functools.partial(fn, *args, **kwargs)
        with self._lock:
            self._futures.append(future)
            start = self._running < self.max_workers
            if start:
                self._running += 1
            else:
                self._waiting.append((future, call))
        if start:
            self._start(future, call)
        return future

    def _start(self, future: Future[Any], call: Callable[[], Any]) -> None:
        def work() -> None:
            try:
                if future.set_running_or_notify_cancel():
                    try:
                        result = call()
                    except BaseException as exc:  # the job's own error, for whoever waits on it
                        future.set_exception(exc)
                    else:
                        future.set_result(result)
            finally:
                self._next()

        process_job_threads().submit(work)

    def _next(self) -> None:
        with self._lock:
            item = self._waiting.popleft() if self._waiting else None
            if item is None:
                self._running -= 1
        if item is not None:
            self._start(*item)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Wait for this run's jobs (the threads stay, for the next run)."""
        if cancel_futures:
            with self._lock:
                waiting, self._waiting = list(self._waiting), deque()
            for future, _ in waiting:  # never started: no thread to give back
                future.cancel()
        if wait:
            wait_for(list(self._futures))


def local_thread_executor(max_workers: int) -> LocalJobExecutor:
    """Threads in this process: right for orchestration, where stages wait on other systems."""
    return LocalJobExecutor(max_workers)


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
