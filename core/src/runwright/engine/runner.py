"""Decide what runs next: the job DAG, trigger rules, matrix strategies and stage sequences.

The job scheduler is event-driven: a job is submitted to the executor the moment its last need
finishes (``concurrent.futures.wait(FIRST_COMPLETED)``, no polling loop); a local job that is the
only one of its run able to run is run by the run's own thread instead of waited for. Stage
kinds only ``run(ctx)``; everything about order, retries, timeouts, skipping and cancelling lives
here.
"""

from __future__ import annotations

import functools
import threading
import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from runwright.engine.context import CancelScope, RunState, minutes_limit
from runwright.engine.executors import ExecutorPools
from runwright.engine.result import Result, Status, aggregate, error_record
from runwright.engine.slots import SlotClaim, SlotVerdict, held_slots, job_claims
from runwright.engine.stage_runner import run_stage_list
from runwright.masking import ACTIVE_RUN_SECRETS, RunSecrets
from runwright.models.base import slugify
from runwright.models.job import Job, TriggerRule
from runwright.models.runs_on import RunsOn, check_installed, parse_executor_setting
from runwright.trace import RunTrace, checked_run_id

if TYPE_CHECKING:
    from runwright.engine.slots import SlotTaker
    from runwright.models.workflow import Workflow

StrategyStages = Callable[
    [str, dict[str, Any], dict[str, Any], CancelScope, Mapping[str, Any] | None],
    tuple[Status, list[dict[str, Any]]],
]
"""Runs one strategy's stages: (sid, matrix, stages record to fill, scope, earlier stages)."""


def new_run_id() -> str:
    """Sortable by start time, unique across processes."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:10]


def trigger_rule_met(rule: TriggerRule, upstream: dict[str, Status]) -> tuple[bool, str]:
    """Whether a job may run after its needs finished, and if not, why (for the record)."""
    values = list(upstream.values())
    failed = [j for j, s in upstream.items() if s in (Status.FAILED, Status.CANCEL)]
    skipped = [j for j, s in upstream.items() if s is Status.SKIP]
    succeeded = [j for j, s in upstream.items() if s is Status.SUCCESS]
    if rule is TriggerRule.ALL_DONE:
        return True, ""
    if rule is TriggerRule.ALL_SUCCESS:
        if failed:
            return False, f"upstream failed: {', '.join(failed)}"
        if skipped:
            return False, f"upstream skipped: {', '.join(skipped)}"
        return True, ""
    if rule is TriggerRule.ALL_FAILED:
        ok = bool(values) and len(failed) == len(values)
        return (
            ok,
            "" if ok else f"not all upstream failed (succeeded: {', '.join(succeeded + skipped)})",
        )
    if rule is TriggerRule.ONE_SUCCESS:
        return (True, "") if succeeded else (False, "no upstream job succeeded")
    if rule is TriggerRule.ONE_FAILED:
        return (True, "") if failed else (False, "no upstream job failed")
    if rule is TriggerRule.NONE_FAILED:
        return (False, f"upstream failed: {', '.join(failed)}") if failed else (True, "")
    if rule is TriggerRule.NONE_SKIPPED:
        return (False, f"upstream skipped: {', '.join(skipped)}") if skipped else (True, "")
    return False, f"unknown trigger rule {rule}"  # pragma: no cover - enum is closed


class RunHandle:
    """A run started in the background: ``cancel()`` it, or wait for its ``result()``."""

    def __init__(self, scope: CancelScope, future: Future[Result], run_id: str) -> None:
        self.scope = scope
        self.run_id = run_id
        self._future = future

    def cancel(self, reason: str = "cancelled by user") -> None:
        self.scope.cancel(reason)

    def result(self, timeout: float | None = None) -> Result:
        return self._future.result(timeout)

    def done(self) -> bool:
        return self._future.done()


def run_workflow(
    workflow: Workflow,
    params: Mapping[str, Any] | None = None,
    *,
    run_id: str | None = None,
    parent_run_id: str | None = None,
    max_job_parallel: int | None = None,
    timeout_minutes: float | None = None,
    scope: CancelScope | None = None,
    trigger_chain: tuple[str, ...] = (),
    executor: str | None = None,
    trace: bool | None = None,
    previous: Mapping[str, Any] | None = None,
    observer: Callable[[dict[str, Any]], None] | None = None,
    release_event: Mapping[str, Any] | None = None,
    release: Mapping[str, Any] | None = None,
    slots: SlotTaker | None = None,
    traceparent: str | None = None,
) -> Result:
    """Validate params, run the job DAG, return the Result. Bad params raise ParamError.

    ``previous`` is an earlier run's ``context["jobs"]``: what succeeded there is reused (rerun).
    ``observer`` receives every trace event (live progress). ``release_event`` is what started
    a run by ``on: release`` (``${{ release.upstream.* }}``). ``release`` is the run's release
    context (models/release.py); without one the run is a manual one for the wall clock (or,
    with ``release_event``, an ``event`` one for the upstream's logical date).
    ``executor`` runs jobs without ``runs-on:`` (default ``RUNWRIGHT_EXECUTOR``, else local).
    ``slots`` keeps the jobs' and stages' concurrency groups and pools (a recorded run's store).
    ``traceparent`` is the W3C trace context the run continues (a ``trigger:`` stage, an
    ``on: release`` upstream), for a ``make_run_tracer`` plugin.
    """
    # the run's secrets are released when neither the run nor its Result is left; a trigger:
    # child's are its parent's (its outputs reach the parent's context)
    secrets = ACTIVE_RUN_SECRETS.get() or RunSecrets()
    with secrets.active():
        runtime = workflow.runtime
        settings = runtime.settings
        release = run_release(workflow, params, release, release_event)
        typed = workflow.parameterize(params, release)
        from runwright.check import check_before_run  # lazy: the checker is not needed to import the engine

        check_before_run(workflow, runtime)  # the same errors `runwright validate` prints stop the run
        run_id = checked_run_id(run_id) if run_id else new_run_id()
        tracing = settings.trace_enabled if trace is None else trace
        tracer = runtime.pm.hook.make_run_tracer(
            workflow=workflow.name,
            run_id=run_id,
            parent_run_id=parent_run_id,
            release=release,
            traceparent=traceparent,
            remote=False,
        )
        run_trace = RunTrace(
            run_id,
            workflow.name,
            parent_run_id,
            settings.log_dir_for(workflow.conf_path) if tracing else None,
            listeners=[listener for listener in (observer, tracer) if listener is not None],
        )
        limit = timeout_minutes or workflow.timeout_minutes
        run_scope = (scope or CancelScope()).child(
            limit * 60 if limit else None,
            minutes_limit(limit, f"workflow '{workflow.name}'") if limit else None,
        )
        state = RunState(
            runtime=runtime,
            run_id=run_id,
            workflow=workflow.name,
            trace=run_trace,
            scope=run_scope,
            trigger_chain=(*trigger_chain, workflow.name),
            release=release,
            conf_path=workflow.conf_path,
            previous=dict(previous or {}),
            source=workflow.source,
            slots=slots,
            tracer=tracer,
            secrets=secrets,
        )
        parallel = max_job_parallel or workflow.max_parallel or settings.max_job_parallel
        started = datetime.now(UTC)
        run_trace.event("run-start", f"workflow {workflow.name}", params=typed, release=release)
        context: dict[str, Any] = {"params": typed, "jobs": {}, "release": release}
        errors: list[dict[str, Any]] = []
        try:
            status = WorkflowRunner(workflow, state, context, errors, parallel, executor).run()
        finally:
            state.cleanup()
        ended = datetime.now(UTC)
        run_trace.event("run-end", status.value, status=status.value, errors=errors)
        result = Result(
            status=status,
            run_id=run_id,
            context=context,
            errors=errors,
            parent_run_id=parent_run_id,
            workflow=workflow.name,
            started=started,
            ended=ended,
            log_file=run_trace.path,
            traceparent=tracer.traceparent(None, None, None) if tracer is not None else None,
            secrets=secrets,
        )
        try:
            runtime.pm.hook.run_finished(workflow=workflow, result=result)
        except Exception as exc:  # a plugin's failure never changes the run's result
            run_trace.event("warning", f"run_finished hook failed: {type(exc).__name__}: {exc}")
        run_trace.close()
        return result


def run_release(
    workflow: Workflow,
    params: Mapping[str, Any] | None,
    release: Mapping[str, Any] | None,
    release_event: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The run's ``release`` context: the one given, else a manual (or ``on: release``) one."""
    from runwright.models.release import release_context

    if release is not None:
        found = dict(release)
        if release_event is not None and "upstream" in release_event:
            found.update(type="event", upstream=dict(release_event["upstream"]))
        return found
    if release_event is not None:
        logical_date = release_event["logical_date"]
        if isinstance(logical_date, str):
            logical_date = datetime.fromisoformat(logical_date)
        return release_context(
            logical_date, "event", events=workflow.on, upstream=release_event.get("upstream")
        )
    return release_context(workflow.manual_logical_date(params), "manual", events=workflow.on)


def start_workflow(workflow: Workflow, params: Mapping[str, Any] | None = None, **options: Any) -> RunHandle:
    """Run in a background thread and return a handle that can cancel it."""
    scope = CancelScope()
    given = options.pop("run_id", None)
    run_id = checked_run_id(given) if given else new_run_id()  # a bad one raises here, not later
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="runwright-run")
    future = pool.submit(run_workflow, workflow, params, run_id=run_id, scope=scope, **options)
    pool.shutdown(wait=False)
    return RunHandle(scope, future, run_id)


class WorkflowRunner:
    """One run's job scheduler."""

    def __init__(
        self,
        workflow: Workflow,
        state: RunState,
        context: dict[str, Any],
        errors: list[dict[str, Any]],
        max_parallel: int,
        executor: str | None,
    ) -> None:
        self.workflow = workflow
        self.state = state
        self.context = context
        self.errors = errors
        self.max_parallel = max_parallel
        self.default_runs_on = workflow.runs_on or parse_executor_setting(
            executor or state.runtime.settings.executor
        )
        check_installed(self.default_runs_on, state.runtime.executors, f"workflow '{workflow.name}': ")
        for job_id, job in workflow.jobs.items():
            if job.runs_on is not None:
                check_installed(job.runs_on, state.runtime.executors, f"job '{job_id}': ")

    def runs_on(self, job_id: str) -> RunsOn:
        """The executor of a job: its own runs-on, else the workflow's, the caller's, the env's."""
        return self.workflow.jobs[job_id].runs_on or self.default_runs_on

    def run(self) -> Status:
        jobs = self.workflow.jobs
        waiting = {job_id: set(job.needs) for job_id, job in jobs.items()}
        dependents: dict[str, list[str]] = defaultdict(list)
        for job_id, job in jobs.items():
            for need in job.needs:
                dependents[need].append(job_id)
        statuses: dict[str, Status] = {}
        futures: dict[Future[Status], str] = {}
        startable: list[str] = []  # needs met, not started yet
        timed_out = False
        pools = ExecutorPools(self.state.runtime, min(self.max_parallel, max(1, len(jobs))))

        def ready(job_id: str) -> None:
            job = jobs[job_id]
            if self.state.scope.cancelled:
                finished(job_id, self._record_not_run(job_id, Status.CANCEL, self.state.scope.reason))
                return
            upstream = {need: statuses[need] for need in job.needs}
            ok, reason = trigger_rule_met(job.trigger_rule, upstream)
            if not ok:
                finished(job_id, self._record_not_run(job_id, Status.SKIP, reason))
                return
            startable.append(job_id)

        def start(job_id: str) -> None:
            try:
                futures[pools.submit(self, job_id, self.runs_on(job_id))] = job_id
            except Exception as exc:  # an executor that cannot start (cluster unreachable...)
                self.errors.append(error_record(exc, job=job_id))
                finished(job_id, self._record_not_run(job_id, Status.FAILED, f"executor: {exc}"))

        def start_all() -> None:
            """Start the jobs whose needs are met. One job alone, with nothing else running, runs
            on this thread: nothing can become ready before it ends, so this thread would only
            wait for it (a job thread per run doubled a busy server's threads, issue 30)."""
            nonlocal timed_out
            while startable:
                if len(startable) == 1 and not futures and pools.runs_in_process(self.runs_on(startable[0])):
                    job_id = startable.pop()
                    errors_before = len(self.errors)
                    status = status_of(job_id, functools.partial(self.run_job, job_id))
                    if not timed_out and self.state.scope.past_deadline():
                        timed_out = True  # said first, as when the wait below sees the deadline
                        self.time_out(at=errors_before)
                    finished(job_id, status)
                    continue
                waiting_to_start = list(startable)
                startable.clear()
                for job_id in waiting_to_start:
                    start(job_id)

        def status_of(job_id: str, outcome: Callable[[], Status]) -> Status:
            """The job's status; an exception out of it (a bug in a plugin's executor or our own)
            is recorded and fails the job, and the run goes on."""
            try:
                return outcome()
            except Exception as exc:
                self.errors.append(error_record(exc, job=job_id))
                return Status.FAILED

        def finished(job_id: str, status: Status) -> None:
            statuses[job_id] = status
            for dependent in dependents[job_id]:
                waiting[dependent].discard(job_id)
                if not waiting[dependent]:
                    ready(dependent)

        try:
            for job_id in self.workflow.job_order:
                if not jobs[job_id].needs:
                    ready(job_id)
            start_all()
            while futures:
                remaining = None if timed_out else self.state.scope.remaining()
                done, _ = wait(
                    futures,
                    timeout=max(0.0, remaining) if remaining is not None else None,
                    return_when=FIRST_COMPLETED,
                )
                if not done:
                    timed_out = True
                    self.time_out()
                    continue
                for future in done:
                    job_id = futures.pop(future)
                    finished(job_id, status_of(job_id, future.result))
                start_all()
        finally:
            pools.shutdown()
        for job_id in jobs:  # jobs never reached (cancelled before their needs finished)
            if job_id not in statuses:
                statuses[job_id] = self._record_not_run(job_id, Status.CANCEL, "run cancelled")
        results = list(statuses.values())
        if timed_out:
            return Status.FAILED  # a deadline missed is a failure, not a user's cancel
        if self.state.scope.cancelled and Status.FAILED not in results:
            return Status.CANCEL
        return aggregate(results)

    def time_out(self, at: int | None = None) -> None:
        """The workflow's deadline passed: say so (in the run's errors, ``at`` an index) and stop
        what still runs."""
        message = self.state.scope.ran_past(f"workflow '{self.workflow.name}'")
        self.errors.insert(len(self.errors) if at is None else at, {"name": "Timeout", "message": message})
        self.state.scope.cancel("workflow timeout")

    def _record_not_run(self, job_id: str, status: Status, reason: str) -> Status:
        self.context["jobs"][job_id] = {"status": status.value, "reason": reason, "stages": {}}
        self.state.trace.event("job-end", reason, job=job_id, status=status.value)
        return status

    # -- one job -------------------------------------------------------------------------

    def run_job(self, job_id: str, strategy_stages: StrategyStages | None = None) -> Status:
        """Run one job here; ``strategy_stages`` runs each matrix strategy's stages elsewhere."""
        job = self.workflow.jobs[job_id]
        trace = self.state.trace
        earlier = self.state.previous.get(job_id) or {}
        if earlier.get("status") == Status.SUCCESS.value and not earlier.get("outcome"):
            self.context["jobs"][job_id] = {**earlier, "reused": True}
            trace.event("job-reused", "from the earlier run", job=job_id, status="SUCCESS")
            return Status.SUCCESS
        record: dict[str, Any] = {"status": Status.RUNNING.value, "stages": {}}
        base = {"params": self.context["params"], "jobs": self.context["jobs"]}
        if "release" in self.context:
            base["release"] = self.context["release"]
        try:  # a matrix job claims per strategy (each is a job of its own)
            claims = [] if job.strategy is not None else self.job_slot_claims(job_id)
        except Exception as exc:  # the group expression failed: the job fails, saying where
            return self.job_failed_early(job_id, record, exc)
        with held_slots(self.state, claims, self.state.scope, {"job": job_id}) as (verdict, held):
            if not verdict.held:
                return self.job_not_run(job_id, record, verdict)
            scope = held.child(  # the timeout counts from when the job has its slots
                job.timeout_minutes * 60 if job.timeout_minutes else None,
                minutes_limit(job.timeout_minutes, f"job '{job_id}'") if job.timeout_minutes else None,
            )
            trace.event("job-start", job=job_id)
            render = self.state.runtime.expressions.render
            job_errors: list[dict[str, Any]] = []
            try:
                if job.if_ is not None and not self.state.runtime.expressions.evaluate_condition(
                    job.if_, base
                ):
                    record.update(status=Status.SKIP.value, reason="condition 'if' is false")
                    self.context["jobs"][job_id] = record
                    trace.event("job-end", "skipped: if is false", job=job_id, status="SKIP")
                    return Status.SKIP
                if job.strategy is not None:
                    status, job_errors = self._run_strategies(
                        job_id, job, scope, base, record, earlier, strategy_stages
                    )
                    variables = None
                else:
                    variables = dict(base, stages=record["stages"], matrix={})
                    status, job_errors = run_stage_list(
                        self.state,
                        job.stage_list,
                        variables,
                        record["stages"],
                        scope,
                        job_id,
                        None,
                        previous=earlier.get("stages"),
                    )
                if status is Status.SKIP:  # it ran and every stage skipped itself: a success (as in
                    status = Status.SUCCESS  # GitHub Actions); only a job's own `if:` passes SKIP on
                if job.outputs and status is Status.SUCCESS and variables is not None:
                    record["outputs"] = render(job.outputs, variables)
            except Exception as exc:  # never lose a job's failure, whatever raised it
                status, job_errors = Status.FAILED, [*job_errors, error_record(exc, job=job_id)]
            if status is Status.FAILED and job.catch:
                status, job_errors = self._job_catch(job_id, job, base, record, job_errors)
            if job.finally_:
                nested_vars = dict(base, error=(job_errors or [None])[-1], matrix={})
                results: dict[str, Any] = {}
                nested_vars["stages"] = results
                final_status, final_errors = run_stage_list(
                    self.state,
                    job.finally_,
                    nested_vars,
                    results,
                    CancelScope(),
                    job_id,
                    None,
                    prefix="finally",
                )
                record["finally"] = results
                if final_status is Status.FAILED:
                    status, job_errors = Status.FAILED, [*job_errors, *final_errors]
            if job_errors:
                record["errors"] = job_errors
                self.errors.extend(job_errors)
            if status is Status.FAILED and job.continue_on_error:
                record["outcome"] = Status.FAILED.value
                status = Status.SUCCESS
            record["status"] = status.value
            self.context["jobs"][job_id] = record
            outcome = {"outcome": record["outcome"]} if "outcome" in record else {}
            trace.event("job-end", status.value, job=job_id, status=status.value, **outcome)
            return status

    def job_slot_claims(self, job_id: str) -> list[SlotClaim]:
        """A job's own claims (its group and pool; a matrix job's are per strategy)."""
        base = {"params": self.context["params"], "jobs": self.context["jobs"], "matrix": {}}
        if "release" in self.context:
            base["release"] = self.context["release"]
        job = self.workflow.jobs[job_id]
        return job_claims(job, f"{self.state.run_id}/{job_id}", base, self.state.runtime, job_id)

    def job_not_run(self, job_id: str, record: dict[str, Any], verdict: SlotVerdict) -> Status:
        """Its group was full (SKIP) or it was cancelled while it waited (CANCEL)."""
        record.update(status=verdict.status, reason=verdict.reason)
        self.context["jobs"][job_id] = record
        self.state.trace.event("job-end", verdict.reason, job=job_id, status=verdict.status)
        return Status(verdict.status)

    def job_failed_early(self, job_id: str, record: dict[str, Any], exc: Exception) -> Status:
        errors = [error_record(exc, job=job_id)]
        record.update(status=Status.FAILED.value, errors=errors)
        self.errors.extend(errors)
        self.context["jobs"][job_id] = record
        self.state.trace.event("job-end", Status.FAILED.value, job=job_id, status=Status.FAILED.value)
        return Status.FAILED

    def _job_catch(
        self,
        job_id: str,
        job: Job,
        base: dict[str, Any],
        record: dict[str, Any],
        errors: list[dict[str, Any]],
    ) -> tuple[Status, list[dict[str, Any]]]:
        """The job failed: run its catch stages; when they succeed the failure is handled."""
        error = (errors or [{"name": "JobFailed", "message": f"job {job_id} failed"}])[-1]
        results: dict[str, Any] = {}
        variables = dict(base, error=error, matrix={}, stages=results)
        status, catch_errors = run_stage_list(
            self.state,
            job.catch or [],
            variables,
            results,
            self.state.scope.child(),
            job_id,
            None,
            prefix="catch",
        )
        record["catch"] = results
        if status is Status.SUCCESS:
            record.update(outcome=Status.FAILED.value, caught=error)
            self.state.trace.event("job-caught", error["message"], job=job_id)
            return Status.SUCCESS, []
        return Status.FAILED, [*errors, *catch_errors]

    def _run_strategies(
        self,
        job_id: str,
        job: Job,
        scope: CancelScope,
        base: dict[str, Any],
        record: dict[str, Any],
        earlier: Mapping[str, Any],
        strategy_stages: StrategyStages | None = None,
    ) -> tuple[Status, list[dict[str, Any]]]:
        assert job.strategy is not None
        earlier_strategies = earlier.get("strategies") or {}
        render = self.state.runtime.expressions.render
        combos = job.strategy.combinations(job.strategy.axes_for(lambda value: render(value, base)))
        group = scope.child()  # fail-fast cancels this group: this job's strategies only
        strategies: dict[str, Any] = {}
        record["strategies"] = strategies
        ids = strategy_ids(combos)
        errors: list[dict[str, Any]] = []
        lock = threading.Lock()
        trace = self.state.trace
        traced = self.state.tracer is not None

        def run_one(index: int) -> Status:
            sid, combo = ids[index], combos[index]
            entry: dict[str, Any] = {"matrix": combo, "status": Status.RUNNING.value, "stages": {}}
            with lock:
                strategies[sid] = entry
            reused = earlier_strategies.get(sid) or {}
            if reused.get("status") == Status.SUCCESS.value:
                entry.update(reused, reused=True)
                return Status.SUCCESS
            if group.cancelled:
                entry["status"] = Status.CANCEL.value
                entry["reason"] = group.reason
                return Status.CANCEL
            variables = dict(base, stages=entry["stages"], matrix=combo)
            try:
                claims = job_claims(
                    job, f"{self.state.run_id}/{job_id}/{sid}", variables, self.state.runtime, job_id
                )
            except Exception as exc:  # the group expression failed: this strategy fails
                found = [error_record(exc, job=job_id, strategy=sid)]
                entry.update(status=Status.FAILED.value, errors=found)
                with lock:
                    errors.extend(found)
                return Status.FAILED
            with held_slots(self.state, claims, group, {"job": job_id, "strategy": sid}) as (verdict, held):
                if not verdict.held:
                    entry.update(status=verdict.status, reason=verdict.reason)
                    return Status(verdict.status)
                if traced:  # a strategy's span needs its start and end; a plain trace does without
                    trace.event("strategy-start", job=job_id, strategy=sid)
                if strategy_stages is not None:
                    previous = reused.get("stages")
                    status, found = strategy_stages(sid, combo, entry["stages"], held.child(), previous)
                else:
                    status, found = run_stage_list(
                        self.state,
                        job.stage_list,
                        variables,
                        entry["stages"],
                        held.child(),
                        job_id,
                        sid,
                        previous=reused.get("stages"),
                    )
            entry["status"] = status.value
            if found:
                entry["errors"] = found
                with lock:
                    errors.extend(found)
            if traced:
                trace.event(
                    "strategy-end",
                    status.value,
                    job=job_id,
                    strategy=sid,
                    status=status.value,
                    **({"errors": found} if found else {}),
                )
            if status is Status.FAILED and job.strategy.fail_fast:  # type: ignore[union-attr]
                group.cancel(f"fail-fast: strategy {sid} failed")
            return status

        workers = min(job.strategy.parallel_limit(lambda value: render(value, base)), len(combos))
        if workers <= 1:
            statuses = [run_one(i) for i in range(len(combos))]
        else:
            statuses = _run_in_threads(run_one, len(combos), workers, f"runwright-{job_id}")
        return aggregate(statuses), errors


def _run_in_threads(run_one: Callable[[int], Status], count: int, workers: int, name: str) -> list[Status]:
    """``run_one(i)`` for every index, at most ``workers`` at a time: each worker thread takes the
    next index until none is left (one hand-off per worker, not one future per strategy)."""
    statuses: list[Status] = [Status.CANCEL] * count
    indexes = iter(range(count))
    take = threading.Lock()
    failures: list[BaseException] = []

    def work() -> None:
        while True:
            with take:
                index = next(indexes, None)
            if index is None:
                return
            try:
                statuses[index] = run_one(index)
            except BaseException as exc:  # raised in the job's thread at the end, as pool.map did
                failures.append(exc)

    threads = [threading.Thread(target=work, name=f"{name}_{n}") for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    return statuses


def strategy_ids(combos: list[dict[str, Any]]) -> list[str]:
    """Each combination's strategy id (its values, slugified; unique), in the matrix's order."""
    ids: list[str] = []
    seen: set[str] = set()
    for index, combo in enumerate(combos):
        sid = slugify("-".join(f"{v}" for v in combo.values())) if combo else str(index)
        if sid in seen:
            sid = f"{sid}-{index}"
        seen.add(sid)
        ids.append(sid)
    return ids
