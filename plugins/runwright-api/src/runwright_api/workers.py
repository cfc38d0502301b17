"""Runs in worker processes (``runwright serve --workers N``), not on the server's threads.

Why: in one process every run shares the server's one interpreter lock with the HTTP layer, so
a ``run:`` stage computing for a minute slows every request, a crash in a C extension takes the
server down, and the server never uses more than about one core. With workers, the server
process answers requests and claims releases (so ``GET /runs/{id}`` finds a run at once, as
before); N spawned processes execute the runs, each many at once on threads, and write their
records and traces to the same audit store and log folder.

The protocol, over one pair of pipes per worker:

- server -> worker: ``RunOrder`` (run a claimed release), ``("cancel", run_id, reason)``,
  ``("stop", grace_seconds)``; end of file (the server died) is a stop with no grace;
- worker -> server: ``("ready", pid)``, ``("ended", run_id, status)``, ``("failed", message)``
  when the worker cannot start.

A worker that dies (``kill -9``, a segfault) is seen through its process sentinel: each run it
held that is still RUNNING in the store is marked CRASHED with the exit code, and a new worker
takes its place. Stopping gives runs the grace period, then cancels them; a worker that does not
exit in time is killed, and the service marks what it held CRASHED, never RUNNING.
"""

from __future__ import annotations

import atexit
import gc
import multiprocessing
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.connection import wait as wait_for_ready
from pathlib import Path
from typing import Any

from runwright.audit import AuditBackend, ReleaseRecord, ReleaseStatus
from runwright.config import Settings
from runwright.errors import RunwrightError

#: How long a new worker may take to import runwright and load its plugins.
STARTUP_SECONDS = 60.0
#: Runs one worker executes at once (each on its own thread).
RUNS_PER_WORKER = 64
#: After the grace period and a cancel, how long a worker may take to record its runs.
CANCEL_SECONDS = 10.0


class WorkersUnavailable(RunwrightError):
    """The worker processes could not be started (the message says why)."""


@dataclass(frozen=True)
class RunOrder:
    """A claimed release for a worker to run: what ``run_claimed`` needs, by value."""

    workflow: str
    record: ReleaseRecord
    params: dict[str, Any]
    previous: dict[str, Any] | None
    #: the conf folder's file stamps the server checked the params against
    conf_stamp: tuple[tuple[str, float], ...] | None
    #: more options of the run, by value (``release_event`` for a run started by ``on: release``)
    run_options: dict[str, Any] = field(default_factory=dict)


@dataclass
class WorkerHandle:
    """The server's side of one worker process."""

    process: Any  # multiprocessing.process.BaseProcess
    orders: Connection
    events: Connection
    send_lock: threading.Lock = field(default_factory=threading.Lock)
    runs: set[str] = field(default_factory=set)
    ready: bool = False

    def send(self, message: object) -> None:
        with self.send_lock:
            self.orders.send(message)


class WorkerPool:
    """Starts N workers, hands each run to the least busy one; :meth:`submit`'s future says how
    the run ended."""

    def __init__(
        self,
        count: int,
        *,
        conf_path: Path,
        settings: Settings,
        audit: AuditBackend,
    ) -> None:
        if count < 1:
            raise ValueError("a worker pool needs at least one worker")
        self.conf_path = conf_path
        self.settings = settings
        self.audit = audit
        self._context = multiprocessing.get_context("spawn")  # never fork a threaded server
        self._lock = threading.Lock()
        self._futures: dict[str, Future[str]] = {}
        self._stopping = threading.Event()
        self._broken = ""
        self.restarts = 0
        self.workers: list[WorkerHandle] = [self._spawn() for _ in range(count)]
        for worker in self.workers:
            self._await_ready(worker)
        self._watcher = threading.Thread(target=self._watch, name="runwright-api-workers", daemon=True)
        self._watcher.start()
        # a server leaving without close(): end the workers' pipes first, so they stop (cancel and
        # record their runs) before multiprocessing's own exit handler waits for them to end
        atexit.register(self._hang_up)

    # -- the server's side -------------------------------------------------------------------

    def health(self) -> tuple[int, int]:
        """(worker processes alive now, workers replaced since the start) for ``/metrics``."""
        with self._lock:
            return sum(1 for w in self.workers if w.process.is_alive()), self.restarts

    @property
    def problem(self) -> str:
        """Why no new run can start (a worker that could not start), else empty."""
        return self._broken

    def submit(self, order: RunOrder) -> Future[str]:
        """Hand ``order`` to a worker; the future resolves to the run's final status."""
        future: Future[str] = Future()
        with self._lock:
            if self._broken:
                raise WorkersUnavailable(self._broken)
            worker = min(
                (w for w in self.workers if w.process.is_alive()), key=lambda w: len(w.runs), default=None
            )
            if worker is None:
                raise WorkersUnavailable("no worker process is running")
            worker.runs.add(order.record.run_id)
            self._futures[order.record.run_id] = future
        try:
            worker.send(order)
        except (OSError, ValueError):  # the worker died between the choice and the send
            self._crash_runs(worker, [order.record.run_id])
        return future

    def cancel(self, run_id: str, reason: str) -> None:
        with self._lock:
            owner = next((w for w in self.workers if run_id in w.runs), None)
        if owner is not None:
            try:
                owner.send(("cancel", run_id, reason))
            except (OSError, ValueError):
                pass  # it died: the watcher records the run CRASHED

    def close(self, grace_seconds: float) -> None:
        """Stop the workers: runs get ``grace_seconds``, then are cancelled and recorded."""
        self._stopping.set()
        with self._lock:
            workers = list(self.workers)
        for worker in workers:
            try:
                worker.send(("stop", grace_seconds))
            except (OSError, ValueError):
                pass
        deadline = time.monotonic() + grace_seconds + CANCEL_SECONDS + 5.0
        for worker in workers:
            worker.process.join(timeout=max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(timeout=5.0)
        self._watcher.join(timeout=5.0)
        for worker in workers:  # whatever a killed worker still held
            self._drain(worker)
            self._crash_runs(worker, list(worker.runs))

    def _hang_up(self) -> None:
        self._stopping.set()
        for worker in list(self.workers):
            worker.orders.close()

    # -- the watcher thread ------------------------------------------------------------------

    def _watch(self) -> None:
        while True:
            with self._lock:
                workers = list(self.workers)
            if self._stopping.is_set() and not any(w.process.is_alive() for w in workers):
                return
            ready = wait_for_ready(
                [w.events for w in workers] + [w.process.sentinel for w in workers], timeout=0.5
            )
            for worker in workers:
                if worker.events in ready:
                    self._drain(worker)
                if worker.process.sentinel in ready:
                    self._drain(worker)
                    self._replace(worker)

    def _drain(self, worker: WorkerHandle) -> None:
        try:
            while worker.events.poll():
                self._handle(worker, worker.events.recv())
        except (EOFError, OSError):
            pass

    def _handle(self, worker: WorkerHandle, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "ended":
            self._ended(worker, message[1], message[2])
        elif kind == "ready":
            worker.ready = True
        elif kind == "failed":
            self._broken = f"a worker process could not start: {message[1]}"

    def _ended(self, worker: WorkerHandle, run_id: str, status: str) -> None:
        with self._lock:
            if run_id not in worker.runs:
                return
            worker.runs.discard(run_id)
            future = self._futures.pop(run_id, None)
        if future is not None:
            future.set_result(status)

    def _crash_runs(self, worker: WorkerHandle, run_ids: list[str]) -> None:
        """End runs ``worker`` held when it died: CRASHED, unless they recorded their end first."""
        reason = f"the worker process running it (pid {worker.process.pid}) {how_it_ended(worker.process)}"
        for run_id in run_ids:
            if self.audit.mark_crashed(run_id, reason):
                status = ReleaseStatus.CRASHED.value
            else:
                current = self.audit.get(run_id)  # it recorded its own end before it died
                status = current.status.value if current is not None else ReleaseStatus.CRASHED.value
            self._ended(worker, run_id, status)

    def _replace(self, worker: WorkerHandle) -> None:
        with self._lock:
            if worker not in self.workers:
                return
            self.workers.remove(worker)
        worker.process.join(timeout=5.0)  # its sentinel fires a moment before it can be reaped
        if not worker.ready and not self._broken:  # never respawn a worker that cannot start
            self._broken = f"a worker process {how_it_ended(worker.process)} before it was ready"
        if not self._stopping.is_set() and not self._broken:
            fresh = self._spawn()  # takes orders at once: they wait in its pipe while it starts
            with self._lock:
                self.workers.append(fresh)
                self.restarts += 1
        # recorded after the replacement is there: whoever sees CRASHED can start a run at once
        self._crash_runs(worker, list(worker.runs))

    # -- starting a worker -------------------------------------------------------------------

    def _spawn(self) -> WorkerHandle:
        orders_out, orders_in = self._context.Pipe(duplex=False)  # (receiver, sender)
        events_out, events_in = self._context.Pipe(duplex=False)
        process = self._context.Process(
            target=worker_main,
            args=(orders_out, events_in, str(self.conf_path), self.settings, self.audit.url),
            name="runwright-api-worker",
            daemon=False,  # a daemonic process may not start processes (a Dask LocalCluster does)
        )
        process.start()
        orders_out.close()  # the child's ends: closing ours makes the child's death an EOF here
        events_in.close()
        return WorkerHandle(process=process, orders=orders_in, events=events_out)

    def _await_ready(self, worker: WorkerHandle) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        while not worker.ready:
            left = deadline - time.monotonic()
            if left <= 0:
                worker.process.kill()
                raise WorkersUnavailable(f"a worker process did not start within {STARTUP_SECONDS:.0f} s")
            if worker.events.poll(min(left, 0.5)):
                try:
                    self._handle(worker, worker.events.recv())
                except EOFError:
                    pass
            if self._broken:
                worker.process.join(timeout=5.0)
                raise WorkersUnavailable(self._broken)
            if not worker.ready and not worker.process.is_alive() and not worker.events.poll():
                raise WorkersUnavailable(
                    f"a worker process {how_it_ended(worker.process)} before it was ready"
                )


def how_it_ended(process: Any) -> str:
    """``was killed by SIGKILL`` / ``exited with code 3`` / ``stopped answering`` (no exit code yet)."""
    code = process.exitcode
    if code is None:
        return "stopped answering"
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


# -- the worker's side -----------------------------------------------------------------------


def worker_main(
    orders: Connection, events: Connection, conf_path: str, settings: Settings, audit_url: str
) -> None:
    """A worker process: load the runtime once, then run orders until told to stop.

    It takes orders from its server only: SIGINT and SIGTERM sent to the whole process group
    (Ctrl-C in a terminal, a service manager) are left to the server's graceful stop.
    """
    from runwright.heap import limit_malloc_arenas, restore_environment

    restore_environment()  # its runs' processes get the environment the server was started with
    limit_malloc_arenas()  # before its 64 run threads start (runwright/heap.py)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    send_lock = threading.Lock()

    def send(message: object) -> None:
        with send_lock:
            try:
                events.send(message)
            except (OSError, ValueError):
                pass  # the server is gone: the record in the store says how the run ended

    try:
        from runwright.audit import make_audit_backend
        from runwright.runtime import Runtime

        from runwright_api.service import WorkflowCatalog

        runtime = Runtime(settings=settings)
        Runtime._default = runtime  # stages that look the runtime up find this one
        audit = make_audit_backend(audit_url, pm=runtime.pm)
        catalog = WorkflowCatalog(Path(conf_path), runtime)
    except Exception as exc:  # say why, once, instead of dying silently
        send(("failed", f"{type(exc).__name__}: {exc}"))
        return
    worker = RunExecutor(catalog, audit, send)
    gc.collect()  # the runtime lives as long as the worker: keep it out of the collector's scans
    gc.freeze()
    send(("ready", multiprocessing.current_process().pid))
    grace = 0.0
    while True:
        try:
            message = orders.recv()
        except (EOFError, OSError):
            break  # the server died: cancel at once and record what was running
        if isinstance(message, RunOrder):
            worker.start(message)
        elif message[0] == "cancel":
            worker.cancel(message[1], message[2])
        elif message[0] == "stop":
            grace = float(message[1])
            break
    worker.stop(grace)


class RunExecutor:
    """A worker's runs: each on a thread of its own pool, with a cancel scope per run."""

    def __init__(self, catalog: Any, audit: AuditBackend, send: Callable[[object], None]) -> None:
        self.catalog = catalog
        self.audit = audit
        self.send = send
        self.scopes: dict[str, Any] = {}
        self.futures: list[Future[None]] = []
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(
            max_workers=RUNS_PER_WORKER, thread_name_prefix="runwright-worker-run"
        )

    def start(self, order: RunOrder) -> None:
        from runwright.engine.context import CancelScope

        scope = CancelScope()
        with self._lock:
            self.scopes[order.record.run_id] = scope
            self.futures = [f for f in self.futures if not f.done()]
            self.futures.append(self._pool.submit(self._run, order, scope))

    def cancel(self, run_id: str, reason: str) -> None:
        with self._lock:
            scope = self.scopes.get(run_id)
        if scope is not None:
            scope.cancel(reason)

    def _run(self, order: RunOrder, scope: Any) -> None:
        from runwright.schedule.release import run_claimed

        from runwright_api.service import HEARTBEAT_SECONDS

        run_id = order.record.run_id
        status = ReleaseStatus.FAILED.value
        try:
            # the conf version the server checked the params against (None: the newest)
            self.catalog.refresh(until_stamp=order.conf_stamp)
            workflow = self.catalog.get(order.workflow)
            outcome = run_claimed(
                workflow,
                order.record,
                order.params,
                self.audit,
                order.previous,
                HEARTBEAT_SECONDS,
                {**order.run_options, "scope": scope},
            )
            status = outcome.status
        except Exception as exc:  # never leave the record RUNNING
            self.audit.mark_crashed(run_id, f"the worker failed to run it: {exc}")
            status = ReleaseStatus.CRASHED.value
        finally:
            with self._lock:
                self.scopes.pop(run_id, None)
            self.send(("ended", run_id, status))

    def stop(self, grace_seconds: float) -> None:
        with self._lock:
            running = [f for f in self.futures if not f.done()]
        if running and grace_seconds > 0:
            _, running_set = wait(running, timeout=grace_seconds)
            running = list(running_set)
        if running:
            with self._lock:
                scopes = list(self.scopes.values())
            for scope in scopes:
                scope.cancel("the server stopped")
            wait(running, timeout=CANCEL_SECONDS)
        self._pool.shutdown(wait=False, cancel_futures=True)
