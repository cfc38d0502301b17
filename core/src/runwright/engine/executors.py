"""Executors run job work handed to them; the local one runs jobs on this process's threads.

Registered through the executor hook exactly as the dask executor plugin is. A run makes one
executor per distinct ``runs-on:`` among its jobs (:class:`ExecutorPools`), on first use.
"""

from __future__ import annotations

import functools
import itertools
import os
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future
from concurrent.futures import wait as wait_for
from typing import TYPE_CHECKING, Any

from runwright.hookspecs import hookimpl

if TYPE_CHECKING:
    from runwright.engine.runner import WorkflowRunner
    from runwright.models.runs_on import RunsOn
    from runwright.runtime import Runtime


JOB_THREAD_IDLE_SECONDS = 60.0
"""How long a job thread waits for the next job before it ends: a scheduler's minutely runs find
their threads still there, and a server's thread count follows its load, not its busiest hour."""


class JobThreads:
    """The job threads of this process, shared by its runs: a thread that finished a job takes
    the next one, of any run, so a server starting hundreds of short runs starts no thread per
    run (that cost a fifth of a one-stage run).

    A thread starts only when a job comes and none is idle, and ends after
    :data:`JOB_THREAD_IDLE_SECONDS` without one. There is no cap, as when each run had its own
    pool: a job that waits for another run (a trigger stage runs its workflow in this process)
    holds its thread, so a cap could leave the waited-for run's jobs with none. Until the idle
    threads ended, every thread a load peak started stayed for the life of the process, each
    with its stack and, on glibc, often an arena of its own (issue 30).
    """

    def __init__(self) -> None:
        self._ready = threading.Condition(threading.Lock())
        self._work: deque[Callable[[], None]] = deque()
        self._idle = 0
        self._exiting = False
        self._names = itertools.count()
        # as concurrent.futures does: at interpreter exit, idle threads end at once and running
        # jobs are waited for (the threads are not daemons, so no job is cut off mid-stage)
        threading._register_atexit(self._exit)  # type: ignore[attr-defined]

    def submit(self, work: Callable[[], None]) -> None:
        """Run ``work`` on an idle thread, else on a new one (``work`` handles its own errors)."""
        with self._ready:
            self._work.append(work)
            if self._idle >= len(self._work):  # enough waiting threads: wake one
                self._ready.notify()
                return
        name = f"runwright-job_{next(self._names)}"
        threading.Thread(target=self._serve, name=name).start()

    def _serve(self) -> None:
        while True:
            with self._ready:
                while not self._work:
                    if self._exiting:
                        return
                    self._idle += 1
                    woken = self._ready.wait(JOB_THREAD_IDLE_SECONDS)
                    self._idle -= 1
                    if not woken and not self._work:
                        return  # idle long enough: this thread's stack and state are freed
                work = self._work.popleft()
            work()
            del work  # a finished job's frame is not kept while this thread waits

    def _exit(self) -> None:
        with self._ready:
            self._exiting = True
            self._ready.notify_all()


_process_threads: tuple[int, JobThreads] | None = None
_process_threads_lock = threading.Lock()


def process_job_threads() -> JobThreads:
    """This process's :class:`JobThreads` (new in a forked child: threads die in a fork)."""
    global _process_threads
    with _process_threads_lock:
        if _process_threads is None or _process_threads[0] != os.getpid():
            _process_threads = (os.getpid(), JobThreads())
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

    def runs_in_process(self, runs_on: RunsOn) -> bool:
        """Whether jobs with this ``runs-on`` run on this process's own job threads: the built-in
        local executor, not a plugin's (one registered as ``local`` included)."""
        return self.runtime.executors.get(runs_on.type) is local_thread_executor

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
