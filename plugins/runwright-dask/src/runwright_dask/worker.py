"""The function a Dask worker runs for one job or strategy: cancel wiring and lost-worker check."""

from __future__ import annotations

import threading
from collections.abc import Callable

from distributed import Event, Variable, get_worker
from runwright.engine.context import CancelScope
from runwright.engine.job_task import JobTask, JobTaskResult, run_job_task, worker_lost_result

CANCEL_POLL_SECONDS = 0.5


def cancel_event(key: str) -> str:
    return f"{key}-cancel"


def cancel_reason(key: str) -> str:
    return f"{key}-reason"


def started_event(key: str) -> str:
    return f"{key}-started"


def run_on_worker(task: JobTask, key: str) -> JobTaskResult:
    """Run ``task`` here. A task that already started on another worker (which then died and the
    scheduler moved it) is not run twice: it comes back as ``worker-lost``."""
    address = get_worker().address
    started = Event(started_event(key))
    if started.is_set():
        return worker_lost_result(task.job_id, "", "it started on a worker that died before it finished")
    started.set()
    cancel, reason = Event(cancel_event(key)), Variable(cancel_reason(key))
    return run_job_task(task, address, lambda scope: watch_cancel(cancel, reason, scope))


def watch_cancel(cancel: Event, reason: Variable, scope: CancelScope) -> Callable[[], None]:
    """Cancel ``scope`` with the driver's reason once the driver sets the cancel event."""
    finished = threading.Event()

    def watch() -> None:
        while not finished.is_set():
            try:
                if not cancel.wait(timeout=CANCEL_POLL_SECONDS):
                    continue
                why = reason.get(timeout=5)
            except Exception:  # the client is closing: the task is over
                return
            scope.cancel(str(why or "cancelled"))
            return

    threading.Thread(target=watch, name="runwright-dask-cancel", daemon=True).start()
    return finished.set
