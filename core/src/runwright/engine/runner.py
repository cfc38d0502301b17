"""Decide what runs next: the job DAG, trigger rules, matrix strategies and stage sequences.

The job scheduler is event-driven: a job is submitted to the executor the moment its last need
finishes (``concurrent.futures.wait(FIRST_COMPLETED)``, no polling loop). Stage kinds only
``run(ctx)``; everything about order, retries, timeouts, skipping and cancelling lives here.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from runwright.engine.context import CancelScope, RunState, StageContext
from runwright.engine.result import Result, Status, error_record
from runwright.errors import (
    ExpressionError,
    RunCancelled,
    StageFailed,
    StageSkipped,
    StageTimeout,
)
from runwright.masking import mask
from runwright.models.base import slugify
from runwright.models.job import Job, TriggerRule
from runwright.models.stage import Stage
from runwright.trace import RunTrace

if TYPE_CHECKING:
    from runwright.models.workflow import Workflow

FALSY_TEXT = frozenset({"", "false", "0", "no", "off", "none", "null"})


def new_run_id() -> str:
    """Sortable by start time, unique across processes."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:10]


def is_truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() not in FALSY_TEXT
    return bool(value)


def evaluate_condition(condition: str | bool, ctx_render: Any) -> bool:
    """``if:`` accepts a YAML bool, ``${{ expr }}`` or a bare expression (as GitHub does)."""
    if isinstance(condition, bool):
        return condition
    text = condition.strip()
    if "${{" not in text:
        text = "${{ " + text + " }}"
    return is_truthy(ctx_render(text))


def aggregate(statuses: list[Status]) -> Status:
    """FAILED beats CANCEL beats SUCCESS; all SKIP (or nothing) is SKIP."""
    if Status.FAILED in statuses:
        return Status.FAILED
    if Status.CANCEL in statuses:
        return Status.CANCEL
    if statuses and all(s is Status.SKIP for s in statuses):
        return Status.SKIP
    return Status.SUCCESS


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
        return ok, "" if ok else f"not all upstream failed (succeeded: {', '.join(succeeded + skipped)})"
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
    executor: str = "local",
    trace: bool | None = None,
) -> Result:
    """Validate params, run the job DAG, return the Result. Bad params raise ParamError."""
    runtime = workflow.runtime
    settings = runtime.settings
    typed = workflow.parameterize(params)
    run_id = run_id or new_run_id()
    tracing = settings.trace_enabled if trace is None else trace
    run_trace = RunTrace(
        run_id, workflow.name, parent_run_id, settings.log_path if tracing else None
    )
    limit = timeout_minutes or workflow.timeout_minutes
    run_scope = (scope or CancelScope()).child(limit * 60 if limit else None)
    state = RunState(
        runtime=runtime,
        run_id=run_id,
        workflow=workflow.name,
        trace=run_trace,
        scope=run_scope,
        trigger_chain=(*trigger_chain, workflow.name),
    )
    parallel = max_job_parallel or workflow.max_parallel or settings.max_job_parallel
    started = datetime.now(UTC)
    run_trace.event("run-start", f"workflow {workflow.name}", params=typed)
    context: dict[str, Any] = {"params": typed, "jobs": {}}
    errors: list[dict[str, Any]] = []
    try:
        status = WorkflowRunner(workflow, state, context, errors, parallel, executor).run()
    finally:
        state.cleanup()
    ended = datetime.now(UTC)
    run_trace.event("run-end", status.value, status=status.value, errors=errors)
    run_trace.close()
    return Result(
        status=status,
        run_id=run_id,
        context=context,
        errors=errors,
        parent_run_id=parent_run_id,
        workflow=workflow.name,
        started=started,
        ended=ended,
        log_file=str(run_trace.path) if run_trace.path else None,
    )


def start_workflow(workflow: Workflow, params: Mapping[str, Any] | None = None, **options: Any) -> RunHandle:
    """Run in a background thread and return a handle that can cancel it."""
    scope = CancelScope()
    run_id = options.pop("run_id", None) or new_run_id()
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
        executor: str,
    ) -> None:
        self.workflow = workflow
        self.state = state
        self.context = context
        self.errors = errors
        self.max_parallel = max_parallel
        factory = state.runtime.executors.get(executor)
        if factory is None:
            known = ", ".join(sorted(state.runtime.executors))
            raise ValueError(f"unknown executor '{executor}' (installed: {known})")
        self.executor_factory = factory

    def run(self) -> Status:
        jobs = self.workflow.jobs
        waiting = {job_id: set(job.needs) for job_id, job in jobs.items()}
        dependents: dict[str, list[str]] = defaultdict(list)
        for job_id, job in jobs.items():
            for need in job.needs:
                dependents[need].append(job_id)
        statuses: dict[str, Status] = {}
        futures: dict[Future[Status], str] = {}
        pool = self.executor_factory(min(self.max_parallel, max(1, len(jobs))))

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
            futures[pool.submit(self.run_job, job_id)] = job_id

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
            timed_out = False
            while futures:
                remaining = None if timed_out else self.state.scope.remaining()
                done, _ = wait(
                    futures, timeout=max(0.0, remaining) if remaining is not None else None,
                    return_when=FIRST_COMPLETED,
                )
                if not done:
                    timed_out = True
                    self.errors.append(
                        {"name": "Timeout", "message": "the workflow ran past its timeout-minutes"}
                    )
                    self.state.scope.cancel("workflow timeout")
                    continue
                for future in done:
                    job_id = futures.pop(future)
                    try:
                        status = future.result()
                    except Exception as exc:  # a bug in a plugin's executor or our own
                        self.errors.append(error_record(exc, job=job_id))
                        status = Status.FAILED
                    finished(job_id, status)
        finally:
            pool.shutdown(wait=True)
        for job_id in jobs:  # jobs never reached (cancelled before their needs finished)
            if job_id not in statuses:
                statuses[job_id] = self._record_not_run(job_id, Status.CANCEL, "run cancelled")
        results = [self._conclusion(job_id, status) for job_id, status in statuses.items()]
        if self.state.scope.cancelled and Status.FAILED not in results:
            return Status.CANCEL
        return aggregate(results)

    def _conclusion(self, job_id: str, status: Status) -> Status:
        return Status(self.context["jobs"][job_id]["status"]) if job_id in self.context["jobs"] else status

    def _record_not_run(self, job_id: str, status: Status, reason: str) -> Status:
        self.context["jobs"][job_id] = {"status": status.value, "reason": reason, "stages": {}}
        self.state.trace.event("job-end", reason, job=job_id, status=status.value)
        return status

    # -- one job -------------------------------------------------------------------------

    def run_job(self, job_id: str) -> Status:
        job = self.workflow.jobs[job_id]
        trace = self.state.trace
        scope = self.state.scope.child(job.timeout_minutes * 60 if job.timeout_minutes else None)
        record: dict[str, Any] = {"status": Status.RUNNING.value, "stages": {}}
        base = {"params": self.context["params"], "jobs": self.context["jobs"]}
        trace.event("job-start", job=job_id)
        try:
            if job.if_ is not None and not evaluate_condition(
                job.if_, lambda text: self.state.runtime.expressions.render(text, base)
            ):
                record.update(status=Status.SKIP.value, reason="condition 'if' is false")
                self.context["jobs"][job_id] = record
                trace.event("job-end", "skipped: if is false", job=job_id, status="SKIP")
                return Status.SKIP
            if job.strategy is not None:
                status, job_errors = self._run_strategies(job_id, job, scope, base, record)
                outputs_vars = None
            else:
                variables = dict(base, stages=record["stages"], matrix={})
                status, job_errors = run_stage_list(
                    self.state, job.stage_list, variables, record["stages"], scope, job_id, None
                )
                outputs_vars = variables
            if job.outputs and status is Status.SUCCESS and outputs_vars is not None:
                record["outputs"] = self.state.runtime.expressions.render(job.outputs, outputs_vars)
        except ExpressionError as exc:
            status, job_errors = Status.FAILED, [error_record(exc, job=job_id)]
        except Exception as exc:  # never lose a job's failure, whatever raised it
            status, job_errors = Status.FAILED, [error_record(exc, job=job_id)]
        if job_errors:
            record["errors"] = job_errors
            self.errors.extend(job_errors)
        if status is Status.FAILED and job.continue_on_error:
            record["outcome"] = Status.FAILED.value
            status = Status.SUCCESS
        record["status"] = status.value
        self.context["jobs"][job_id] = record
        trace.event("job-end", status.value, job=job_id, status=status.value)
        return status

    def _run_strategies(
        self,
        job_id: str,
        job: Job,
        scope: CancelScope,
        base: dict[str, Any],
        record: dict[str, Any],
    ) -> tuple[Status, list[dict[str, Any]]]:
        assert job.strategy is not None
        combos = job.strategy.combinations()
        group = scope.child()  # fail-fast cancels this group: this job's strategies only
        strategies: dict[str, Any] = {}
        record["strategies"] = strategies
        ids = _strategy_ids(combos)
        errors: list[dict[str, Any]] = []
        lock = threading.Lock()

        def run_one(index: int) -> Status:
            sid, combo = ids[index], combos[index]
            entry: dict[str, Any] = {"matrix": combo, "status": Status.RUNNING.value, "stages": {}}
            with lock:
                strategies[sid] = entry
            if group.cancelled:
                entry["status"] = Status.CANCEL.value
                entry["reason"] = group.reason
                return Status.CANCEL
            variables = dict(base, stages=entry["stages"], matrix=combo)
            status, found = run_stage_list(
                self.state, job.stage_list, variables, entry["stages"], group.child(), job_id, sid
            )
            entry["status"] = status.value
            if found:
                entry["errors"] = found
                with lock:
                    errors.extend(found)
            if status is Status.FAILED and job.strategy.fail_fast:  # type: ignore[union-attr]
                group.cancel(f"fail-fast: strategy {sid} failed")
            return status

        workers = min(job.strategy.max_parallel, len(combos))
        if workers <= 1:
            statuses = [run_one(i) for i in range(len(combos))]
        else:
            with ThreadPoolExecutor(workers, thread_name_prefix=f"runwright-{job_id}") as pool:
                statuses = list(pool.map(run_one, range(len(combos))))
        return aggregate(statuses), errors


def _strategy_ids(combos: list[dict[str, Any]]) -> list[str]:
    ids: list[str] = []
    seen: set[str] = set()
    for index, combo in enumerate(combos):
        sid = slugify("-".join(f"{v}" for v in combo.values())) if combo else str(index)
        if sid in seen:
            sid = f"{sid}-{index}"
        seen.add(sid)
        ids.append(sid)
    return ids


# -- stages ------------------------------------------------------------------------------


def run_stage_list(
    state: RunState,
    stages: list[Stage],
    variables: dict[str, Any],
    results: dict[str, Any],
    scope: CancelScope,
    job_id: str | None,
    strategy: str | None,
) -> tuple[Status, list[dict[str, Any]]]:
    """Run stages in order into ``results``; stop at the first failure that is not allowed.

    ``variables["stages"]`` must be ``results`` so later stages read earlier outputs.
    """
    errors: list[dict[str, Any]] = []
    statuses: list[Status] = []
    for stage in stages:
        sid = stage.identity
        if scope.cancelled:
            results[sid] = {"status": Status.CANCEL.value, "reason": scope.reason}
            statuses.append(Status.CANCEL)
            break
        record = run_stage(state, stage, variables, scope, job_id, strategy)
        results[sid] = record
        status = Status(record["status"])
        if status is Status.FAILED:
            errors.extend(record.get("errors", []))
            if stage.continue_on_error:
                record["outcome"] = Status.FAILED.value
                record["status"] = Status.SUCCESS.value
                status = Status.SUCCESS
            else:
                statuses.append(status)
                break
        elif status is Status.CANCEL:
            statuses.append(status)
            break
        statuses.append(status)
    return aggregate(statuses) if statuses else Status.SUCCESS, errors


def run_stage(
    state: RunState,
    stage: Stage,
    variables: dict[str, Any],
    scope: CancelScope,
    job_id: str | None,
    strategy: str | None,
) -> dict[str, Any]:
    """One stage with its ``if``, retries and timeout; returns its record (never raises)."""
    sid = stage.identity
    trace = state.trace
    stage_scope = scope.child(stage.timeout_minutes * 60) if stage.timeout_minutes else scope
    ctx = StageContext(state, variables, stage_scope, job_id, sid, strategy)
    started = time.perf_counter()
    trace.event("stage-start", stage.label, job=job_id, strategy=strategy, stage=sid)
    record: dict[str, Any]
    try:
        if stage.if_ is not None and not evaluate_condition(stage.if_, ctx.render):
            record = {"status": Status.SKIP.value, "reason": "condition 'if' is false"}
            trace.event("stage-end", "SKIP", job=job_id, strategy=strategy, stage=sid, status="SKIP")
            return record
    except ExpressionError as exc:
        record = {"status": Status.FAILED.value, "errors": [error_record(exc, job=job_id, stage=sid)]}
        trace.event("stage-end", str(exc), job=job_id, strategy=strategy, stage=sid, status="FAILED")
        return record
    policy = stage.retry
    attempts = policy.max_attempts if policy else 1
    failures: list[dict[str, Any]] = []
    attempt = 0
    while True:
        attempt += 1
        try:
            outputs = _run_once(stage, ctx)
            record = {"status": Status.SUCCESS.value, "outputs": outputs}
            break
        except StageSkipped as exc:
            record = {"status": Status.SKIP.value, "reason": str(exc)}
            break
        except RunCancelled as exc:
            record = {"status": Status.CANCEL.value, "reason": str(exc) or stage_scope.reason}
            break
        except Exception as exc:
            error = error_record(exc, job=job_id, stage=sid, attempt=attempt if policy else None)
            if stage_scope.cancelled and not isinstance(exc, StageTimeout):
                record = {"status": Status.CANCEL.value, "reason": stage_scope.reason}
                break
            failures.append(error)
            if attempt < attempts and policy is not None and policy.retries(error["name"]):
                delay = policy.delay_before(attempt + 1)
                if policy.jitter:
                    delay = random.uniform(0, delay)
                trace.event(
                    "stage-retry",
                    f"attempt {attempt} failed ({error['name']}); retrying in {delay:.2f}s",
                    job=job_id, strategy=strategy, stage=sid,
                )
                if scope.event.wait(delay):
                    record = {"status": Status.CANCEL.value, "reason": scope.reason}
                    break
                if stage_scope is not scope:  # a fresh timeout for the next attempt
                    stage_scope = scope.child(stage.timeout_minutes * 60)  # type: ignore[operator]
                    ctx.scope = stage_scope
                continue
            record = {"status": Status.FAILED.value, "errors": [error]}
            failed_outputs = getattr(exc, "outputs", None)
            if failed_outputs:
                record["outputs"] = failed_outputs
            break
    if policy is not None:
        record["attempts"] = attempt
        record["attempt_errors"] = failures
    elapsed = time.perf_counter() - started
    trace.event(
        "stage-end", record["status"], job=job_id, strategy=strategy, stage=sid,
        status=record["status"], seconds=round(elapsed, 6),
        **({"errors": record["errors"]} if "errors" in record else {}),
    )
    return record


def _run_once(stage: Stage, ctx: StageContext) -> dict[str, Any]:
    """Run ``stage.run`` once, enforcing the scope's deadline while it runs."""
    remaining = ctx.scope.remaining()
    if remaining is None:
        outputs = stage.run(ctx)
    else:
        if remaining <= 0:
            raise StageTimeout(f"stage '{stage.identity}' ran out of time before it started")
        outputs = _run_with_deadline(stage, ctx, remaining)
    if outputs is None:
        return {}
    if not isinstance(outputs, dict):
        raise StageFailed(f"stage '{stage.identity}' returned {type(outputs).__name__}, not a mapping")
    return outputs


def _run_with_deadline(stage: Stage, ctx: StageContext, remaining: float) -> dict[str, Any]:
    """Stages that block in Python are watched from here; subprocesses are killed by the
    stage itself when the scope is cancelled."""
    box: dict[str, Any] = {}
    done = threading.Event()

    def target() -> None:
        try:
            box["outputs"] = stage.run(ctx)
        except BaseException as exc:  # handed back to the caller's thread
            box["error"] = exc
        finally:
            done.set()

    worker = threading.Thread(target=target, name=f"runwright-stage-{stage.identity}", daemon=True)
    worker.start()
    if not done.wait(remaining):
        ctx.scope.cancel("timeout")
        done.wait(10.0)  # let a subprocess stage terminate and kill its child
        raise StageTimeout(
            f"stage '{stage.identity}' ran past its timeout ({mask(f'{remaining:.1f}')}s left when it started)"
        )
    if "error" in box:
        raise box["error"]
    return box.get("outputs") or {}
