"""The workflow application: start runs in the background, cancel, rerun, read records and traces.

Every run is a release recorded in the audit store (like ``runwright run``): the record is
claimed before the HTTP answer, so ``GET /runs/{id}`` finds it at once, then the run goes on a
worker thread, or to a worker process with ``workers=N`` (see :mod:`runwright_api.workers`).
Stopping the service gives running workflows a grace period, then cancels them;
a record this process could not finish is marked CRASHED, never left RUNNING.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from runwright.audit import (
    ACTIVE_STATUSES,
    BLOCKING_STATUSES,
    AuditBackend,
    ReleaseRecord,
    ReleaseStatus,
    ReleaseType,
    make_audit_backend,
    utc_now,
)
from runwright.engine.context import CancelScope
from runwright.errors import RunwrightError
from runwright.heap import HEAP_TRIMMER
from runwright.loader import BrokenConf, TemplateSource, build_model, conf_files, discover
from runwright.models.workflow import Workflow
from runwright.runtime import Runtime
from runwright.schedule.cron import next_tick
from runwright.schedule.release import (
    DataParams,
    ReleaseMode,
    ReleaseOutcome,
    new_record,
    release,
    release_params,
    replay_params,
    run_claimed,
)
from runwright.trace import RUN_ID

from runwright_api.workers import RunOrder, WorkerPool, WorkersUnavailable

HEARTBEAT_SECONDS = 10.0
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)


class NotFound(RunwrightError):
    """A workflow or run that does not exist (HTTP 404)."""


class Conflict(RunwrightError):
    """An action the run's state does not allow, e.g. cancelling a finished run (HTTP 409)."""


class BadParams(RunwrightError):
    """Params the workflow rejects, with the same message as the CLI (HTTP 422)."""


@dataclass
class ActiveRun:
    """A run this server is executing, on one of its threads or in one of its workers."""

    run_id: str
    workflow: str
    scope: CancelScope
    future: Future[Any] | None = None
    workers: WorkerPool | None = None

    def cancel(self, reason: str) -> None:
        if self.workers is not None:
            self.workers.cancel(self.run_id, reason)
        else:
            self.scope.cancel(reason)


OTHER_WORKFLOWS = "_other"
"""The ``workflow`` label of runs of workflows past the first ``max_workflows`` seen."""
DEFAULT_MAX_WORKFLOW_LABELS = 100


def max_workflow_labels() -> int:
    """``RUNWRIGHT_METRICS_MAX_WORKFLOWS``: how many workflows get a ``workflow`` label of their
    own in ``/metrics`` (default 100); the runs of any later one count under ``_other``."""
    text = os.environ.get("RUNWRIGHT_METRICS_MAX_WORKFLOWS", "").strip()
    try:
        return max(1, int(text)) if text else DEFAULT_MAX_WORKFLOW_LABELS
    except ValueError:
        return DEFAULT_MAX_WORKFLOW_LABELS


@dataclass
class RunCounts:
    """Runs finished by status and their durations (a histogram), runs started."""

    by_status: dict[str, int] = field(default_factory=dict)
    bucket_counts: list[int] = field(default_factory=lambda: [0] * len(DURATION_BUCKETS))
    duration_sum: float = 0.0
    duration_count: int = 0
    triggered: int = 0

    def observe(self, status: str, seconds: float) -> None:
        self.by_status[status] = self.by_status.get(status, 0) + 1
        for index, bound in enumerate(DURATION_BUCKETS):
            if seconds <= bound:
                self.bucket_counts[index] += 1
        self.duration_sum += seconds
        self.duration_count += 1


@dataclass
class Metrics(RunCounts):
    """Counters for ``/metrics``: the server's totals, and the same per workflow for at most
    ``max_workflows`` workflows (bounded cardinality: later ones share ``_other``)."""

    per_workflow: dict[str, RunCounts] = field(default_factory=dict)
    max_workflows: int = field(default_factory=max_workflow_labels)

    def of(self, workflow: str) -> RunCounts:
        counts = self.per_workflow.get(workflow)
        if counts is None:
            label = workflow if len(self.per_workflow) < self.max_workflows else OTHER_WORKFLOWS
            counts = self.per_workflow.get(label)
            if counts is None:
                counts = self.per_workflow[label] = RunCounts()
        return counts

    def started(self, workflow: str) -> None:
        self.triggered += 1
        self.of(workflow).triggered += 1

    def finished(self, workflow: str, status: str, seconds: float) -> None:
        self.observe(status, seconds)
        self.of(workflow).observe(status, seconds)


class WorkflowCatalog:
    """The conf path's workflows, re-read only when a YAML file changed (cheap per request)."""

    def __init__(self, conf_path: Path, runtime: Runtime) -> None:
        self.conf_path = conf_path
        self.runtime = runtime
        self._lock = threading.Lock()
        self._stamp: tuple[tuple[str, float], ...] | None = None
        self._checked = 0.0
        self.workflows: dict[str, Workflow] = {}
        self.problems: dict[str, list[str]] = {}
        self.raw: dict[str, dict[str, Any]] = {}
        self.sources: dict[str, TemplateSource] = {}
        """Where each workflow's template is written (file and line), for the pages' source view."""
        self.conf_problem = ""

    def _current_stamp(self) -> tuple[tuple[str, float], ...]:
        try:
            return tuple((str(p), p.stat().st_mtime) for p in conf_files(self.conf_path))
        except (RunwrightError, OSError) as exc:
            return ((f"error: {exc}", 0.0),)

    @property
    def stamp(self) -> tuple[tuple[str, float], ...] | None:
        """The conf files' modification times when they were last read."""
        return self._stamp

    def refresh(self, until_stamp: tuple[tuple[str, float], ...] | None = None) -> None:
        """Re-read the conf folder if a file changed (checked at most once a second), or at
        once when ``until_stamp`` (the version another process read) is not the one held."""
        with self._lock:
            now = time.monotonic()
            if until_stamp is not None:
                if until_stamp == self._stamp:
                    return
            elif self._stamp is not None and now - self._checked < 1.0:
                return
            self._checked = now
            stamp = self._current_stamp()
            if stamp == self._stamp:
                return
            workflows: dict[str, Workflow] = {}
            problems: dict[str, list[str]] = {}
            raw: dict[str, dict[str, Any]] = {}
            found: dict[str, TemplateSource] = {}
            self.conf_problem = ""
            broken: list[BrokenConf] = []
            try:
                sources = discover(self.conf_path, broken)  # one broken file never hides the others
            except RunwrightError as exc:
                sources = {}
                self.conf_problem = str(exc)
            if broken:
                self.conf_problem = "; ".join(problem.message.splitlines()[0] for problem in broken)
            for name, source in sources.items():
                if source.raw.get("type") != "Workflow":
                    continue
                raw[name] = dict(source.raw)
                found[name] = source
                try:
                    workflows[name] = build_model(source, self.runtime, Workflow)
                    problems[name] = []
                except RunwrightError as exc:
                    problems[name] = [str(exc)]
            self.workflows, self.problems, self.raw, self._stamp = workflows, problems, raw, stamp
            self.sources = found

    def names(self) -> list[str]:
        self.refresh()
        return sorted(self.raw)

    def get(self, name: str) -> Workflow:
        self.refresh()
        workflow = self.workflows.get(name)
        if workflow is None:
            if name in self.problems:
                raise Conflict(f"workflow '{name}' is invalid: {'; '.join(self.problems[name])}")
            known = ", ".join(sorted(self.raw)) or "none"
            raise NotFound(f"no workflow named '{name}' in {self.conf_path} (workflows: {known})")
        return workflow


class RunService:
    """Starts, cancels and reruns workflows; the one object the HTTP layer talks to."""

    def __init__(
        self,
        conf_path: Path | str | None = None,
        *,
        runtime: Runtime | None = None,
        audit: AuditBackend | None = None,
        max_workers: int = 32,
        grace_seconds: float = 30.0,
        workers: int = 0,
    ) -> None:
        """``workers``: run workflows in that many worker processes (0: on this process's threads).

        Workers build their runtime from the settings (environment, entry points), so a runtime
        made in this process (plugins registered by hand) cannot go with them: that is refused
        rather than silently not used."""
        if workers and runtime is not None and runtime is not Runtime.default():
            raise ValueError(
                "RunService(runtime=..., workers=N): worker processes build their runtime from the "
                "environment and installed plugins, not from this process's object; use workers=0"
            )
        self.runtime = runtime or Runtime.default()
        self.settings = self.runtime.settings
        self.catalog = WorkflowCatalog(
            Path(conf_path) if conf_path else self.settings.conf_path, self.runtime
        )
        self.audit = audit or make_audit_backend(pm=self.runtime.pm, conf_path=self.catalog.conf_path)
        self.grace_seconds = grace_seconds
        self.metrics = Metrics()
        self.active: dict[str, ActiveRun] = {}
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="runwright-api-run")
        self.scheduler: Any = None
        self._scheduler_thread: threading.Thread | None = None
        self._started: dict[str, float] = {}
        self.workers: WorkerPool | None = None
        if workers:
            self.workers = WorkerPool(
                workers,
                conf_path=self.catalog.conf_path,
                settings=self.settings,
                audit=self.audit,
            )

    # -- reading -------------------------------------------------------------------------

    @property
    def log_path(self) -> Path:
        return self.settings.log_dir_for(self.catalog.conf_path)

    def trace_file(self, run_id: str) -> Path:
        return self.log_path / f"{run_id}.jsonl"

    def record(self, run_id: str) -> ReleaseRecord:
        # no run has an id ``checked_run_id`` refuses; the file store would make it a bad file name
        if not RUN_ID.fullmatch(run_id):
            shown = run_id if len(run_id) <= 60 else run_id[:60] + f"… ({len(run_id)} characters)"
            raise NotFound(f"no run with id {shown!r}")
        try:
            found = self.audit.get(run_id)
        except ValueError:  # an id the store cannot hold
            found = None
        if found is None:
            raise NotFound(f"no run with id '{run_id}' in {self.audit.url}")
        return found

    def next_tick(self, workflow: Workflow, now: datetime | None = None) -> datetime | None:
        now = now or utc_now()
        ticks = [t for t in (next_tick(event, now) for event in workflow.on) if t is not None]
        return min(ticks) if ticks else None

    def last_record(self, name: str) -> ReleaseRecord | None:
        found = self.audit.list(workflow=name, limit=1)
        return found[0] if found else None

    # -- starting ------------------------------------------------------------------------

    def check_params(
        self, workflow: Workflow, params: Mapping[str, Any], logical_date: datetime | None = None
    ) -> None:
        """Params as the run would convert them for ``logical_date``; 422 (BadParams) if bad."""
        from runwright.models.release import release_context

        when = logical_date or workflow.manual_logical_date()
        try:
            workflow.parameterize(params, release_context(when, "manual", events=workflow.on))
        except RunwrightError as exc:
            raise BadParams(str(exc)) from None

    def _claim(
        self,
        workflow: Workflow,
        logical_date: datetime,
        release_type: ReleaseType,
        params: dict[str, Any],
        parent_run_id: str | None = None,
        new_attempt: bool = True,
        unless: frozenset[ReleaseStatus] = frozenset(),
        labels: Mapping[str, str] | None = None,
    ) -> ReleaseRecord | None:
        """Claim a release: attempt 1 only (``new_attempt=False``, None if taken), else the next
        attempt in one compare-and-set of the store, refused while an attempt is in ``unless``.
        The record says it came in through the API, with ``labels``."""
        record = new_record(workflow, logical_date, release_type, params, 1, parent_run_id, labels, "api")
        if not new_attempt:
            return record if self.audit.claim(record) else None
        claimed = self.audit.claim_next_attempt(record, unless=unless)
        if claimed is None:
            blocking = "/".join(sorted(status.value for status in unless))
            raise Conflict(
                f"{workflow.name} @ {logical_date.isoformat()} has an attempt that is {blocking}; "
                "no new attempt was started"
            )
        return claimed

    def _refuse_when_stopping(self) -> None:
        if self.stopping.is_set():
            raise Conflict("the server is shutting down; no new runs are started")

    def trigger(
        self,
        name: str,
        params: Mapping[str, Any],
        logical_date: datetime | str | None = None,
        labels: Mapping[str, Any] | None = None,
    ) -> ReleaseRecord:
        """Check params and labels, claim a manual release for ``logical_date`` (default now),
        run it in the background; date params without a default are that date."""
        from runwright.models.labels import checked_labels

        self._refuse_when_stopping()
        try:
            checked = checked_labels(labels or {}, "labels")
        except RunwrightError as exc:
            raise BadParams(str(exc)) from None
        workflow = self.catalog.get(name)
        given = dict(params)
        try:
            when = workflow.as_logical_date(logical_date) if logical_date else workflow.manual_logical_date()
        except RunwrightError as exc:
            raise BadParams(str(exc)) from None
        self.check_params(workflow, given, when)
        record = self._claim(workflow, when, ReleaseType.MANUAL, given, labels=checked)
        assert record is not None
        self._start(workflow, record, given, previous=None)
        return record

    def rerun(
        self, run_id: str, params: Mapping[str, Any] | None = None, from_failed: bool = True
    ) -> ReleaseRecord:
        """Run ``run_id``'s logical date again as a new attempt: only what failed or was
        cancelled (``from_failed``; what succeeded is reused), else everything. ``params`` go
        over the run's own (checked like a trigger's)."""
        self._refuse_when_stopping()
        earlier = self.record(run_id)
        if earlier.status in ACTIVE_STATUSES:
            raise Conflict(f"run '{run_id}' is still {earlier.status.value}; cancel it or wait for it to end")
        workflow = self.catalog.get(earlier.workflow)
        unknown = [key for key in params or {} if key not in workflow.params and key not in earlier.params]
        if unknown:  # every declared param is given again, so no did-you-mean could catch a typo
            declared = ", ".join(workflow.params) or "none"
            raise BadParams(
                f"workflow '{workflow.name}': param '{unknown[0]}' is not declared (declared: {declared})"
            )
        try:  # secrets read again from the workflow's secret sources, never '***'
            secrets = workflow.runtime.secret_lookup(workflow.conf_path)
            params = replay_params(earlier, DataParams(params or {}), secrets)
        except RunwrightError as exc:
            raise BadParams(str(exc)) from None
        self.check_params(workflow, params, earlier.release)
        record = self._claim(
            workflow,
            earlier.release,
            ReleaseType.RERUN,
            params,
            parent_run_id=run_id,
            unless=BLOCKING_STATUSES,  # never beside a RUNNING attempt, never after a SUCCESS
            labels=earlier.labels,  # a rerun keeps its run's labels
        )
        assert record is not None
        previous = (earlier.context.get("jobs") or {}) if from_failed else None
        self._start(workflow, record, params, previous=previous)
        return record

    def backfill(
        self,
        name: str,
        start: str,
        end: str,
        params: Mapping[str, Any] | None = None,
        *,
        force: bool = False,
        only_failed: bool = False,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """Backfill as ``runwright backfill`` does (schedule/backfill.py). A dry run answers the
        plan; otherwise each tick to run is claimed now and the claims run one after another in
        logical-date order in the background."""
        from runwright.loader import load_template
        from runwright.schedule.backfill import (
            backfill_targets,
            claim_tick,
            plan_backfill,
            read_window_end,
            read_window_start,
            render_plan,
        )

        try:
            template = load_template(name, self.catalog.conf_path, self.runtime)
        except RunwrightError as exc:
            raise NotFound(str(exc)) from None
        try:
            targets = backfill_targets(template, self.catalog.get)
            first, last = read_window_start(start), read_window_end(end)
            given = DataParams(params or {})
            plan = plan_backfill(
                targets, first, last, self.audit, given, force=force, only_failed=only_failed
            )
            for item in plan:  # bad params: 422 before anything is claimed
                if item.action != "skip":
                    self.check_params(item.workflow, item.params, item.tick)
        except NotFound:
            raise
        except RunwrightError as exc:
            raise BadParams(str(exc)) from None
        if dry_run:
            render_plan(plan)
            return {"workflow": name, "dry_run": True, "ticks": [item.document() for item in plan]}
        self._refuse_when_stopping()
        claimed = []
        for item in plan:
            if item.action == "skip":
                continue
            won = claim_tick(item, self.audit)
            if won is None:
                item.action, item.reason = "skip", "claimed by another process"
                continue
            claimed.append((item, won))
        if claimed:
            threading.Thread(
                target=self._run_backfill, args=(claimed,), name=f"runwright-backfill-{name}", daemon=True
            ).start()
        ticks = [
            {**item.document(), "run_id": record.run_id, "attempt": record.attempt, "status": "RUNNING"}
            for item, record in claimed
        ]
        return {"workflow": name, "dry_run": False, "ticks": ticks}

    def _run_backfill(self, claimed: list[tuple[Any, ReleaseRecord]]) -> None:
        """Run claimed ticks in turn, oldest first; once the server stops, the rest are
        recorded CANCEL without running."""
        for item, record in claimed:
            if self.stopping.is_set():
                self.audit.update(
                    record.model_copy(
                        update={
                            "status": ReleaseStatus.CANCEL,
                            "ended": utc_now(),
                            "errors": [
                                {"name": "Cancelled", "message": "the server stopped before this tick ran"}
                            ],
                        }
                    ),
                    expect_running=True,
                )
                continue
            try:
                self._start(item.workflow, record, dict(item.params), previous=None)
            except Conflict:
                continue
            active = self.active.get(record.run_id)
            future = active.future if active is not None else None
            if future is not None:
                wait([future])

    def release(
        self, name: str, logical_date: datetime, params: Mapping[str, Any], mode: str
    ) -> dict[str, Any]:
        """Release one logical date like ``runwright`` releases do; dryrun answers at once."""
        workflow = self.catalog.get(name)
        mode_value = ReleaseMode(mode)
        if mode_value is ReleaseMode.DRYRUN:
            outcome = release(workflow, logical_date, params, mode="dryrun", audit=self.audit)
            return {"workflow": name, "ran": False, "status": outcome.status, "checks": outcome.checks}
        self._refuse_when_stopping()
        try:
            rendered = release_params(DataParams(params), logical_date, ReleaseType.MANUAL, workflow)
        except RunwrightError as exc:
            raise BadParams(str(exc)) from None
        self.check_params(workflow, rendered)
        record = self._claim(
            workflow,
            logical_date,
            ReleaseType.MANUAL,
            rendered,
            new_attempt=mode_value is ReleaseMode.FORCE,
            unless=ACTIVE_STATUSES,  # force, as on the command line
        )
        if record is None:
            attempts = self.audit.attempts(name, logical_date)
            last = attempts[-1] if attempts else None
            return {
                "workflow": name,
                "ran": False,
                "status": "SKIP",
                "run_id": last.run_id if last else None,
                "reason": "already released" + (f" (run {last.run_id}: {last.status})" if last else ""),
            }
        self._start(workflow, record, rendered, previous=None)
        return {"workflow": name, "ran": True, "status": "RUNNING", "run_id": record.run_id}

    def _start(
        self,
        workflow: Workflow,
        record: ReleaseRecord,
        params: dict[str, Any],
        previous: Mapping[str, Any] | None,
    ) -> None:
        active = ActiveRun(record.run_id, workflow.name, CancelScope(), workers=self.workers)
        with self._lock:
            self.active[record.run_id] = active
            self.metrics.started(workflow.name)
            self._started[record.run_id] = time.monotonic()
        try:
            if self.workers is not None:
                order = RunOrder(
                    workflow.name, record, params, dict(previous) if previous else None, self.catalog.stamp
                )
                active.future = self.workers.submit(order)
                active.future.add_done_callback(lambda ended: self._ended(record.run_id, ended.result()))
            else:
                active.future = self._pool.submit(self._run, workflow, record, params, previous, active)
        except (RuntimeError, WorkersUnavailable) as exc:
            # RuntimeError: the thread pool was shut down between the check and the submit
            reason = "the server is shutting down" if isinstance(exc, RuntimeError) else str(exc)
            with self._lock:
                self.active.pop(record.run_id, None)
                self._started.pop(record.run_id, None)
            self.audit.mark_crashed(record.run_id, f"the run could not be started: {reason}")
            raise Conflict(f"the run could not be started: {reason}") from None

    def _run(
        self,
        workflow: Workflow,
        record: ReleaseRecord,
        params: dict[str, Any],
        previous: Mapping[str, Any] | None,
        active: ActiveRun,
    ) -> None:
        status = ReleaseStatus.FAILED.value
        try:
            outcome = run_claimed(
                workflow, record, params, self.audit, previous, HEARTBEAT_SECONDS, {"scope": active.scope}
            )
            status = outcome.status
        except Exception as exc:  # never leave the record RUNNING
            self.audit.mark_crashed(record.run_id, f"the server failed to run it: {exc}")
            status = ReleaseStatus.CRASHED.value
        finally:
            self._ended(record.run_id, status)

    def _ended(self, run_id: str, status: str) -> None:
        with self._lock:
            active = self.active.pop(run_id, None)
            started = self._started.pop(run_id, None)
            seconds = time.monotonic() - started if started is not None else 0.0
            self.metrics.finished(active.workflow if active is not None else "", status, seconds)
        HEAP_TRIMMER.run_ended()  # the server process, whose runs may run in workers

    def _run_claimed_in_worker(
        self,
        workflow: Workflow,
        record: ReleaseRecord,
        params: dict[str, Any],
        audit: AuditBackend,
        previous: Mapping[str, Any] | None,
        heartbeat_seconds: float,
        run_options: Mapping[str, Any],
    ) -> ReleaseOutcome:
        """The in-process scheduler's runner (``run_claimed``'s signature): the release it claimed
        runs in a worker process; its cancel scope (the scheduler stopping) is passed on."""
        assert self.workers is not None
        scope = run_options.get("scope")
        extra = {key: value for key, value in run_options.items() if key != "scope"}
        order = RunOrder(workflow.name, record, params, dict(previous) if previous else None, None, extra)
        try:
            future = self.workers.submit(order)
        except WorkersUnavailable as exc:
            audit.mark_crashed(record.run_id, f"the run could not be started: {exc}")
            status = ReleaseStatus.CRASHED.value
        else:
            cancelled = False
            while True:
                try:
                    status = future.result(timeout=0.2)
                    break
                except FutureTimeout:
                    if scope is not None and scope.event.is_set() and not cancelled:
                        self.workers.cancel(record.run_id, scope.reason or "cancelled")
                        cancelled = True
        final = audit.get(record.run_id)
        HEAP_TRIMMER.run_ended()
        return ReleaseOutcome(
            workflow=workflow.name,
            logical_date=record.release,
            ran=True,
            status=final.status.value if final is not None else status,
            run_id=record.run_id,
            attempt=record.attempt,
            record=final,
        )

    def cancel(self, run_id: str) -> ReleaseRecord:
        record = self.record(run_id)
        with self._lock:
            active = self.active.get(run_id)
        if record.status not in ACTIVE_STATUSES:  # recorded as ended: its handle may linger briefly
            raise Conflict(f"run '{run_id}' already ended: {record.status.value}")
        if active is None:
            raise Conflict(
                f"run '{run_id}' is {record.status.value} in another process ({record.host} pid {record.pid})"
            )
        active.cancel("cancelled through the API")
        return record

    # -- scheduler and shutdown ------------------------------------------------------------

    def start_scheduler(self, clock: Any = None) -> None:
        """Release the conf folder's scheduled workflows from a thread of this server
        (``clock``: the system clock, or a simulated one for tests and soaks)."""
        from runwright.schedule.scheduler import Scheduler

        self.scheduler = Scheduler(
            self.catalog.conf_path,
            audit=self.audit,
            clock=clock,
            runtime=self.runtime,
            grace_seconds=self.grace_seconds,
            runner=self._run_claimed_in_worker if self.workers is not None else None,
        )
        self.scheduler.outcome_listeners.append(self._observe_scheduled)
        self._scheduler_thread = threading.Thread(
            target=self.scheduler.run, name="runwright-api-scheduler", daemon=True
        )
        self._scheduler_thread.start()

    def _observe_scheduled(self, outcome: Any) -> None:
        """Releases the in-process scheduler made count in ``/metrics`` as the API's runs do."""
        record = outcome.record
        if not outcome.ran and record is None:
            return  # already released (normal mode): nothing ran
        seconds = 0.0
        if record is not None and record.ended is not None:
            seconds = max(0.0, (record.ended - record.started).total_seconds())
        with self._lock:
            self.metrics.started(outcome.workflow)
            self.metrics.finished(outcome.workflow, outcome.status, seconds)

    def scheduler_lag_seconds(self) -> float | None:
        """How late the scheduler's next due tick is (0 when on time); None without one."""
        if self.scheduler is None:
            return None
        try:
            wake = self.scheduler.next_wake()
        except Exception:
            return None
        if wake is None:
            return 0.0
        return max(0.0, (utc_now() - wake).total_seconds())

    def shutdown(self, grace_seconds: float | None = None) -> None:
        """Stop taking runs; let running ones finish for the grace period, then cancel them."""
        grace = self.grace_seconds if grace_seconds is None else grace_seconds
        self.stopping.set()
        if self.scheduler is not None:
            self.scheduler.stop()
        with self._lock:
            running = list(self.active.values())
        futures = [a.future for a in running if a.future is not None]
        if futures:
            _, still = wait(futures, timeout=grace)
            if still:
                for active in running:
                    active.cancel("the server stopped")
                wait(still, timeout=10.0)
        if self._scheduler_thread is not None:
            self._scheduler_thread.join(timeout=grace + 15.0)
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self.workers is not None:
            self.workers.close(grace_seconds=0.0)  # its runs were given the grace period above
        for active in running:  # a run stuck past cancel: say so instead of RUNNING forever
            current = self.audit.get(active.run_id)
            if current is not None and current.status in ACTIVE_STATUSES:
                self.audit.mark_crashed(active.run_id, "the server stopped before the run could finish")
