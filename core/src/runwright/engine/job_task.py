"""A job (or one matrix strategy) as picklable data, run in another process, replayed here.

An executor that runs jobs on other machines (the Dask plugin) cannot ship the runner's bound
``run_job``. It ships a :class:`JobTask` instead: the workflow's validated definition, the
params, the context of the jobs this one needs, the job id (and the strategy), the secrets to
mask and the time left. :func:`run_job_task` rebuilds the workflow on the worker through the same
plugins and registry (from the driver's settings) and runs it with the same job-running code
(``WorkflowRunner.run_job`` / ``run_stage_list``). Its :class:`JobTaskResult` carries the job's
context entry, errors and masked trace events; :func:`apply_job_result` puts them into the run
here, so a run's result is the same wherever its jobs ran.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runwright.config import Settings
from runwright.engine.context import CancelScope, RunState, TimeLimit
from runwright.engine.result import Status, error_record
from runwright.masking import MASKER, RunSecrets
from runwright.trace import RunTrace

if TYPE_CHECKING:
    from runwright.engine.runner import WorkflowRunner
    from runwright.models.workflow import Workflow
    from runwright.runtime import Runtime

WORKER_LOST = "worker-lost"


@dataclass(frozen=True)
class StrategyTask:
    """One matrix strategy of a job: its id, its matrix values and its earlier stages (rerun)."""

    sid: str
    matrix: dict[str, Any]
    previous: dict[str, Any] | None = None


@dataclass(frozen=True)
class JobTask:
    """Everything a worker needs to run one job or one strategy; plain picklable data."""

    settings: Settings
    definition: dict[str, Any]
    conf_path: Path | None
    run_id: str
    workflow: str
    job_id: str
    params: dict[str, Any]
    upstream: dict[str, Any]
    previous: dict[str, Any] | None = None
    trigger_chain: tuple[str, ...] = ()
    seconds_left: float | None = None
    time_limit: TimeLimit | None = None
    """Which timeout-minutes ``seconds_left`` comes from (named in a timeout's message)."""
    secrets: tuple[str, ...] = ()
    strategy: StrategyTask | None = None
    release: dict[str, Any] | None = None
    """The ``release`` context of a run started by ``on: release`` (``${{ release.upstream.* }}``)."""
    traceparent: str | None = None
    """The driver's W3C trace context (the run's span, or the strategy's) when the run is traced:
    the worker's spans are its children."""


@dataclass
class JobTaskResult:
    """What came back: the job record (or the strategy's stages), errors and trace events."""

    status: str
    record: dict[str, Any]
    errors: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    worker: str = ""
    lost: bool = False
    traced: bool = False
    """The worker made the spans of these events itself (the driver must not make them again)."""


def upstream_jobs(runner: WorkflowRunner, job_id: str) -> dict[str, Any]:
    """The context entries of every job this one needs, directly or not (all finished)."""
    jobs = runner.workflow.jobs
    seen: set[str] = set()
    todo = list(jobs[job_id].needs)
    while todo:
        need = todo.pop()
        if need not in seen:
            seen.add(need)
            todo.extend(jobs[need].needs)
    return {need: runner.context["jobs"][need] for need in seen if need in runner.context["jobs"]}


def make_job_task(
    runner: WorkflowRunner,
    job_id: str,
    strategy: StrategyTask | None = None,
    scope: CancelScope | None = None,
) -> JobTask:
    """The task for a job (or one strategy, whose deadline is ``scope``'s: the job's timeout)."""
    state = runner.state
    return JobTask(
        settings=state.runtime.settings,
        definition=runner.workflow.definition,
        conf_path=state.conf_path,
        run_id=state.run_id,
        workflow=state.workflow,
        job_id=job_id,
        params=runner.context["params"],
        upstream=upstream_jobs(runner, job_id),
        previous=state.previous.get(job_id),
        trigger_chain=state.trigger_chain[:-1],
        seconds_left=(scope or state.scope).remaining(),
        time_limit=(scope or state.scope).limit,
        secrets=MASKER.values(),
        strategy=strategy,
        release=runner.context.get("release"),
        traceparent=None if state.tracer is None else driver_traceparent(state.tracer, job_id, strategy),
    )


def driver_traceparent(tracer: Any, job_id: str, strategy: StrategyTask | None) -> str | None:
    """The span a remote part continues: the strategy's (run here), else the run's (the whole
    job runs on the worker, its span made there)."""
    if strategy is None:
        return tracer.traceparent(None, None, None)
    return tracer.traceparent(job_id, strategy.sid, None)


# -- on the worker ---------------------------------------------------------------------------

_RUNTIMES: dict[Settings, Runtime] = {}
_WORKFLOWS: dict[tuple[Settings, str], Workflow] = {}
_CACHE_LOCK = threading.Lock()


def _workflow_for(task: JobTask) -> Workflow:
    """The task's workflow, built once per worker process through the plugins its settings name."""
    from runwright.models.workflow import Workflow
    from runwright.runtime import Runtime

    text = json.dumps(task.definition, sort_keys=True, default=str)
    with _CACHE_LOCK:
        runtime = _RUNTIMES.get(task.settings)
        if runtime is None:
            runtime = _RUNTIMES[task.settings] = Runtime(settings=task.settings)
        workflow = _WORKFLOWS.get((task.settings, text))
        if workflow is None:
            workflow = Workflow.model_validate(task.definition, context=runtime.validation_context())
            workflow._runtime = runtime
            workflow._conf_path = task.conf_path
            workflow._raw = task.definition
            if len(_WORKFLOWS) > 64:
                _WORKFLOWS.clear()
            _WORKFLOWS[(task.settings, text)] = workflow
    return workflow


def run_job_task(
    task: JobTask,
    worker: str = "",
    watch_cancel: Callable[[CancelScope], Callable[[], None]] | None = None,
) -> JobTaskResult:
    """Run the task here with the engine's own job code; never raises.

    ``watch_cancel(scope)`` wires a remote cancel signal to the scope and returns a stop function.
    Every trace event is masked and tagged with ``worker``.
    """
    from runwright.engine.runner import WorkflowRunner
    from runwright.engine.stage_runner import run_stage_list

    secrets = RunSecrets()  # the run's secrets, held here while this part of it runs
    for secret in task.secrets:
        secrets.add(secret)
    events: list[dict[str, Any]] = []
    trace = RunTrace(
        task.run_id, task.workflow, listeners=[lambda event: events.append({**event, "worker": worker})]
    )
    errors: list[dict[str, Any]] = []
    stop_watch: Callable[[], None] | None = None
    tracer = None
    try:
        workflow = _workflow_for(task)
        if task.traceparent is not None:  # the driver traces the run: this part continues it here
            tracer = workflow.runtime.pm.hook.make_run_tracer(
                workflow=task.workflow,
                run_id=task.run_id,
                parent_run_id=None,
                release=task.release or {},
                traceparent=task.traceparent,
                remote=True,
            )
            if tracer is not None:
                trace.listen(tracer)
        seconds = max(task.seconds_left, 0.001) if task.seconds_left is not None else None
        scope = CancelScope().child(seconds, task.time_limit)
        state = RunState(
            runtime=workflow.runtime,
            run_id=task.run_id,
            workflow=task.workflow,
            trace=trace,
            scope=scope,
            trigger_chain=(*task.trigger_chain, task.workflow),
            conf_path=task.conf_path,
            previous={task.job_id: task.previous} if task.previous else {},
            source=workflow.source,
            tracer=tracer,
            secrets=secrets,
        )
        stop_watch = watch_cancel(scope) if watch_cancel else None
        context: dict[str, Any] = {"params": task.params, "jobs": dict(task.upstream)}
        if task.release is not None:
            context["release"] = task.release
        try:
            if task.strategy is None:
                runner = WorkflowRunner(workflow, state, context, errors, 1, "local")
                status = runner.run_job(task.job_id)
                record = context["jobs"][task.job_id]
            else:
                job = workflow.jobs[task.job_id]
                record = {}
                variables = dict(context, stages=record, matrix=task.strategy.matrix)
                status, errors = run_stage_list(
                    state,
                    job.stage_list,
                    variables,
                    record,
                    scope,
                    task.job_id,
                    task.strategy.sid,
                    previous=task.strategy.previous,
                )
        finally:
            state.cleanup()
    except Exception as exc:  # the workflow did not rebuild here: say so, never hang the driver
        errors = [*errors, error_record(exc, job=task.job_id)]
        status = Status.FAILED
        record = (
            {}  # a strategy's record is its stages
            if task.strategy is not None
            else {
                "status": status.value,
                "reason": f"on worker {worker}: {exc}",
                "stages": {},
                "errors": errors,
            }
        )
    finally:
        if stop_watch is not None:
            stop_watch()
    try:
        return JobTaskResult(
            status.value, record, MASKER.mask(errors), events, worker, traced=tracer is not None
        )
    finally:
        secrets.close()  # the driver masks what it shows of the record with its own


# -- back on the driver ----------------------------------------------------------------------


def replay_events(trace: RunTrace, events: list[dict[str, Any]], traced: bool = False) -> None:
    """Write a worker's events into this run's trace, keeping their time and worker address.

    ``traced``: the worker made these events' spans; they are marked ``spans: worker`` so this
    run's tracer does not make them twice.
    """
    for event in events:
        extra = {k: v for k, v in event.items() if k not in {"run_id", "parent_run_id", "workflow"}}
        if traced:
            extra["spans"] = "worker"
        name = extra.pop("event")
        trace.event(
            name,
            extra.pop("message", ""),
            job=extra.pop("job", None),
            strategy=extra.pop("strategy", None),
            stage=extra.pop("stage", None),
            **extra,
        )


def worker_lost_result(job_id: str, worker: str, detail: str = "") -> JobTaskResult:
    """The job's worker died mid-job: FAILED with reason ``worker-lost``."""
    where = f" {worker}" if worker else ""
    message = f"the worker{where} running job '{job_id}' was lost{': ' + detail if detail else ''}"
    error = {"job": job_id, "name": "WorkerLost", "message": message}
    record = {"status": Status.FAILED.value, "reason": WORKER_LOST, "stages": {}, "errors": [error]}
    return JobTaskResult(Status.FAILED.value, record, [error], [], worker, lost=True)


def apply_job_result(
    runner: WorkflowRunner,
    job_id: str,
    result: JobTaskResult,
    lost_attempts: list[dict[str, Any]] | None = None,
) -> Status:
    """Put a whole job's result into the run: trace, context entry, errors."""
    replay_events(runner.state.trace, result.events, result.traced)
    record = dict(result.record)
    if lost_attempts:
        record["attempts"] = len(lost_attempts) + 1
        record["attempt_errors"] = lost_attempts
    runner.context["jobs"][job_id] = record
    runner.errors.extend(result.errors)
    if result.lost:
        runner.state.trace.event(
            "job-end", WORKER_LOST, job=job_id, status=Status.FAILED.value, worker=result.worker
        )
    return Status(result.status)


def strategy_runner(
    runner: WorkflowRunner,
    job_id: str,
    run_remote: Callable[[JobTask, CancelScope], JobTaskResult],
) -> Callable[..., tuple[Status, list[dict[str, Any]]]]:
    """A ``strategy_stages`` for ``run_job``: each strategy becomes one remote task."""

    def run(
        sid: str,
        matrix: dict[str, Any],
        stages: dict[str, Any],
        scope: CancelScope,
        previous: Mapping[str, Any] | None,
    ) -> tuple[Status, list[dict[str, Any]]]:
        strategy = StrategyTask(sid, matrix, dict(previous) if previous else None)
        task = make_job_task(runner, job_id, strategy, scope)
        result = run_remote(task, scope)
        replay_events(runner.state.trace, result.events, result.traced)
        if result.lost:
            return Status.FAILED, result.errors
        stages.update(result.record)
        return Status(result.status), result.errors

    return run
