"""Run stages: in order, with ``if``, retries, timeouts, ``catch``/``finally`` and rerun reuse.

Stage kinds only ``run(ctx)``; this module owns everything around that call. A stage's record
is ``{"status", "outputs"?, "errors"?, "reason"?, "attempts"?, "caught"?, "catch"?, "finally"?}``.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from typing import Any

from runwright.engine.context import CancelScope, RunState, StageContext, minutes_limit
from runwright.engine.result import Status, aggregate, error_record
from runwright.engine.slots import held_slots, pool_claim
from runwright.errors import ExpressionError, RunCancelled, StageFailed, StageSkipped, StageTimeout
from runwright.models.stage import Stage
from runwright.trace import TRACEPARENT


def run_stage_list(
    state: RunState,
    stages: list[Stage],
    variables: dict[str, Any],
    results: dict[str, Any],
    scope: CancelScope,
    job_id: str | None,
    strategy: str | None,
    prefix: str = "",
    previous: dict[str, Any] | None = None,
) -> tuple[Status, list[dict[str, Any]]]:
    """Run stages in order into ``results``; stop at the first failure that is not allowed.

    ``variables["stages"]`` must be ``results`` so later stages read earlier outputs.
    ``previous`` holds an earlier run's records: stages that succeeded there are reused.
    """
    errors: list[dict[str, Any]] = []
    statuses: list[Status] = []
    for stage in stages:
        try:
            stage = stage.for_matrix(variables.get("matrix") or {}, state.runtime.expressions.render)
        except ExpressionError as exc:
            results[stage.identity] = {"status": Status.FAILED.value, "errors": [error_record(exc)]}
            errors.extend(results[stage.identity]["errors"])
            statuses.append(Status.FAILED)
            break
        sid = stage.identity
        if scope.cancelled:
            results[sid] = {"status": Status.CANCEL.value, "reason": scope.reason}
            statuses.append(Status.CANCEL)
            break
        earlier = (previous or {}).get(sid)
        if earlier and earlier.get("status") == Status.SUCCESS.value:
            results[sid] = {**earlier, "reused": True}
            state.trace.event(
                "stage-reused",
                "from the earlier run",
                job=job_id,
                strategy=strategy,
                stage=f"{prefix}/{sid}" if prefix else sid,
            )
            statuses.append(Status.SUCCESS)
            continue
        record = run_stage(state, stage, variables, scope, job_id, strategy, prefix)
        results[sid] = record
        status = Status(record["status"])
        if status is Status.FAILED or record.get("outcome") == Status.FAILED.value:
            errors.extend(record.get("errors", []))
        if status is Status.FAILED:
            statuses.append(status)
            break
        if status is Status.CANCEL:
            statuses.append(status)
            break
        statuses.append(status)
    return (aggregate(statuses) if statuses else Status.SUCCESS), errors


def run_stage(
    state: RunState,
    stage: Stage,
    variables: dict[str, Any],
    scope: CancelScope,
    job_id: str | None,
    strategy: str | None,
    prefix: str = "",
) -> dict[str, Any]:
    """One stage with its ``if``, retries, timeout, catch and finally. Never raises."""
    sid = f"{prefix}/{stage.identity}" if prefix else stage.identity
    trace = state.trace
    ctx = StageContext(state, variables, scope, job_id, sid, strategy)
    started = time.perf_counter()
    trace.event("stage-start", stage.label, job=job_id, strategy=strategy, stage=sid)
    traced = None if state.tracer is None else TRACEPARENT.set(ctx.traceparent())
    try:
        with state.secrets.active():  # a secret the stage registers (a SecretStr, a token) is the run's
            return _run_started_stage(state, stage, variables, scope, ctx, started, job_id, strategy, sid)
    finally:
        if traced is not None:
            TRACEPARENT.reset(traced)


def _run_started_stage(
    state: RunState,
    stage: Stage,
    variables: dict[str, Any],
    scope: CancelScope,
    ctx: StageContext,
    started: float,
    job_id: str | None,
    strategy: str | None,
    sid: str,
) -> dict[str, Any]:
    trace = state.trace
    try:
        runs = stage.if_ is None or state.runtime.expressions.evaluate_condition(stage.if_, variables)
    except ExpressionError as exc:
        error = error_record(explained(exc, ctx), job=job_id, strategy=strategy, stage=sid)
        runs, record = False, {"status": Status.FAILED.value, "errors": [error]}
    else:
        record = {"status": Status.SKIP.value, "reason": "condition 'if' is false"}
    if runs:
        claims = (
            []
            if stage.pool is None
            else [pool_claim(stage.pool, stage.pool_slots, stage_holder(state, job_id, strategy, sid))]
        )
        with held_slots(state, claims, scope, {"job": job_id, "strategy": strategy, "stage": sid}) as (
            verdict,
            held,
        ):
            if verdict.held:
                record = _attempts(stage, ctx, held, job_id, sid, strategy)
            else:
                record = {"status": verdict.status, "reason": verdict.reason}
        if record["status"] == Status.FAILED.value and stage.catch:
            _catch(stage.catch, record, ctx, scope)
        if stage.finally_:
            _finally(stage.finally_, record, ctx)
    if record["status"] == Status.FAILED.value and stage.continue_on_error:
        # decided before stage-end, so the live line, the trace and the summary agree
        record["outcome"] = Status.FAILED.value
        record["status"] = Status.SUCCESS.value
    trace.event(
        "stage-end",
        record["status"],
        job=job_id,
        strategy=strategy,
        stage=sid,
        status=record["status"],
        seconds=round(time.perf_counter() - started, 6),
        **({"outcome": record["outcome"]} if "outcome" in record else {}),
        **({"errors": record["errors"]} if "errors" in record else {}),
    )
    return record


def stage_holder(state: RunState, job_id: str | None, strategy: str | None, sid: str) -> str:
    """A unique lease holder for one run of a stage (a foreach may run one stage many times)."""
    return f"{state.run_id}/{job_id}/{strategy or '-'}/{sid}/{uuid.uuid4().hex[:8]}"


def _attempts(
    stage: Stage,
    ctx: StageContext,
    scope: CancelScope,
    job_id: str | None,
    sid: str,
    strategy: str | None,
) -> dict[str, Any]:
    """Run with the retry policy; each failed attempt is kept in the record."""
    policy = stage.retry
    limit = policy.max_attempts if policy else 1
    failures: list[dict[str, Any]] = []
    attempt = 0
    record: dict[str, Any]
    while True:
        attempt += 1
        ctx.scope = (
            scope.child(stage.timeout_minutes * 60, minutes_limit(stage.timeout_minutes, f"stage '{sid}'"))
            if stage.timeout_minutes
            else scope
        )
        try:
            record = {"status": Status.SUCCESS.value, "outputs": _run_once(stage, ctx)}
            break
        except StageSkipped as exc:
            record = {"status": Status.SKIP.value, "reason": str(exc)}
            break
        except RunCancelled as exc:
            record = {"status": Status.CANCEL.value, "reason": str(exc) or ctx.scope.reason}
            break
        except Exception as exc:
            if scope.cancelled and not isinstance(exc, StageTimeout):
                record = {"status": Status.CANCEL.value, "reason": scope.reason}
                break
            error = error_record(
                explained(exc, ctx),
                job=job_id,
                strategy=strategy,
                stage=sid,
                attempt=attempt if policy else None,
            )
            failures.append(error)
            permanent = getattr(exc, "permanent", False)
            if attempt < limit and policy is not None and policy.retries(error["name"], permanent):
                delay = policy.delay_before(attempt + 1)
                if policy.jitter:
                    delay = random.uniform(0, delay)
                ctx.log(
                    f"attempt {attempt} failed ({error['name']}); retrying in {delay:.2f}s",
                    event="stage-retry",
                )
                if scope.event.wait(delay):
                    record = {"status": Status.CANCEL.value, "reason": scope.reason}
                    break
                continue
            if attempt < limit and policy is not None and permanent:
                ctx.log(
                    f"{error['name']} is permanent (the same input fails the same way): not retried; "
                    f"name it in retry.on to retry it",
                    event="stage-retry",
                )
            record = {"status": Status.FAILED.value, "errors": [error]}
            partial = getattr(exc, "outputs", None)
            if partial:
                record["outputs"] = partial
            break
    if policy is not None:
        record["attempts"] = attempt
        record["attempt_errors"] = failures
    return record


def explained(exc: BaseException, ctx: StageContext) -> BaseException:
    """An expression error with where it is written (file:line:col) and the values it saw
    (``matrix``, ``item``): the same expression runs once per strategy and item."""
    if not isinstance(exc, ExpressionError):
        return exc
    notes = []
    source, job_id = ctx.run.source, ctx.job
    if source is not None and job_id is not None:
        from runwright.check.positions import positions_of  # only when an expression fails

        place = positions_of(source).find((ctx.run.workflow, "jobs", job_id), exc.expression.strip())
        if place:
            notes.append(f"{source}:{place[0]}:{place[1]}")
    if ctx.variables.get("matrix"):
        notes.append(f"matrix: {str(ctx.variables['matrix'])[:200]}")
    if ctx.variables.get("item") is not None:
        notes.append(f"item: {str(ctx.variables['item'])[:200]}")
    if not notes:
        return exc
    return ExpressionError(exc.expression, f"{exc.problem} ({'; '.join(notes)})")


def _catch(stages: list[Stage], record: dict[str, Any], ctx: StageContext, scope: CancelScope) -> None:
    """Step Functions-style: the failure is handled when the catch stages succeed."""
    error = record["errors"][-1]
    nested = ctx.run_stages(stages, {"error": error}, scope=scope, prefix="catch")
    record["catch"] = nested.stages
    if nested.status == Status.SUCCESS.value:
        record.update(status=Status.SUCCESS.value, outcome=Status.FAILED.value, caught=error)
        record.pop("errors", None)
    else:
        record["errors"] = [*record["errors"], *nested.errors]


def _finally(stages: list[Stage], record: dict[str, Any], ctx: StageContext) -> None:
    """Always runs (even after cancel, in a fresh scope); its failure fails the stage."""
    error = (record.get("errors") or [None])[-1]
    nested = ctx.run_stages(stages, {"error": error}, scope=CancelScope(), prefix="finally")
    record["finally"] = nested.stages
    if nested.status == Status.FAILED.value:
        record["status"] = Status.FAILED.value
        record["errors"] = [*record.get("errors", []), *nested.errors]


def _run_once(stage: Stage, ctx: StageContext) -> dict[str, Any]:
    """Run ``stage.run`` once, enforcing the scope's deadline while it runs."""
    remaining = ctx.scope.remaining()
    if remaining is None:
        outputs = stage.run(ctx)
    else:
        if remaining <= 0:
            raise StageTimeout(ctx.scope.ran_past(f"stage '{stage.identity}' (before it started)"))
        outputs = _run_with_deadline(stage, ctx, remaining)
    if outputs is None:
        return {}
    if not isinstance(outputs, dict):
        raise StageFailed(f"stage '{stage.identity}' returned {type(outputs).__name__}, not a mapping")
    return outputs


def _run_with_deadline(stage: Stage, ctx: StageContext, remaining: float) -> dict[str, Any]:
    """Python work cannot be interrupted, so it runs in a watched thread; on the deadline the
    scope is cancelled (subprocess stages kill their process group) and Timeout is raised."""
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
        done.wait(10.0)  # let a subprocess stage terminate and kill its children
        raise StageTimeout(ctx.scope.ran_past(f"stage '{stage.identity}'"))
    if "error" in box:
        error = box["error"]
        if isinstance(error, RunCancelled) and ctx.scope.reason == "timeout":
            raise StageTimeout(ctx.scope.ran_past(f"stage '{stage.identity}'"))
        raise error
    return box.get("outputs") or {}
