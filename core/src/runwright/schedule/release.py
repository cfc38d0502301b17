"""A release: one run of a workflow for one logical date, claimed and recorded in the audit store.

Modes:
- ``normal`` skips a logical date that already has a record (exactly once, across processes);
- ``force`` runs it again as a new attempt;
- ``dryrun`` renders every expression it can, resolves every ``uses:`` and checks its
  arguments, and runs nothing (no audit record).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from runwright.audit import AuditBackend, ReleaseRecord, ReleaseStatus, ReleaseType, utc_now
from runwright.engine.result import Result, Status, error_record, to_jsonable
from runwright.engine.runner import new_run_id
from runwright.errors import ExpressionError, RunwrightError
from runwright.masking import mask
from runwright.models.stage import Stage

if TYPE_CHECKING:
    from runwright.models.workflow import Workflow

HEARTBEAT_SECONDS = 10.0
FORCE_CLAIM_TRIES = 20


class ReleaseMode(StrEnum):
    NORMAL = "normal"
    FORCE = "force"
    DRYRUN = "dryrun"


@dataclass
class ReleaseOutcome:
    """What a release did: ``ran`` is False when the date was already released (normal mode)."""

    workflow: str
    logical_date: datetime
    ran: bool
    status: str
    run_id: str | None = None
    attempt: int = 0
    result: Result | None = None
    record: ReleaseRecord | None = None
    reason: str = ""
    checks: list[dict[str, Any]] = field(default_factory=list)


def aware(value: datetime, default_zone: Any = UTC) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=default_zone)


class DataParams(dict[str, Any]):
    """Params whose values are data: a ``${{ }}`` in them is never evaluated.

    The one mark for every value from outside a template: typed on the command line
    (``run``/``backfill``/``rerun -p``), sent to the API, read back from the audit store, or
    already rendered once. Only params written in a template (a Schedule's ``params:``, a
    ``Workflow.release()`` call in Python) are rendered.
    """


def release_params(
    params: Mapping[str, Any] | None,
    logical_date: datetime,
    release_type: ReleaseType,
    workflow: Workflow,
    run_date: datetime | None = None,
) -> dict[str, Any]:
    """Render ``${{ release.* }}`` in params: logical_date, run_date, type. The result, like
    :class:`DataParams` given, is data and is never rendered again."""
    if isinstance(params, DataParams):
        return DataParams(params)
    variables = {
        "release": {
            "logical_date": logical_date,
            "run_date": run_date or utc_now(),
            "type": release_type.value,
        }
    }
    return DataParams(workflow.runtime.expressions.render(dict(params or {}), variables))


def release(
    workflow: Workflow,
    logical_date: datetime,
    params: Mapping[str, Any] | None = None,
    *,
    mode: ReleaseMode | str = ReleaseMode.NORMAL,
    release_type: ReleaseType | str = ReleaseType.MANUAL,
    audit: AuditBackend | None = None,
    parent_run_id: str | None = None,
    previous: Mapping[str, Any] | None = None,
    heartbeat_seconds: float = HEARTBEAT_SECONDS,
    run_options: Mapping[str, Any] | None = None,
    render_params: bool = True,
) -> ReleaseOutcome:
    """Run ``workflow`` once for ``logical_date``; see the module doc for modes.

    ``render_params=False`` takes params as given (values typed by a person on the command
    line are data, never expressions).
    """
    from runwright.audit import make_audit_backend

    mode = ReleaseMode(mode)
    release_type = ReleaseType(release_type)
    logical_date = aware(logical_date)
    rendered = (
        release_params(params, logical_date, release_type, workflow) if render_params else dict(params or {})
    )
    if mode is ReleaseMode.DRYRUN:
        return dry_run(workflow, logical_date, rendered)
    backend = audit or make_audit_backend(pm=workflow.runtime.pm)
    record = _claim(backend, workflow, logical_date, release_type, mode, rendered, parent_run_id)
    if record is None:
        existing = backend.attempts(workflow.name, logical_date)
        last = existing[-1] if existing else None
        return ReleaseOutcome(
            workflow=workflow.name,
            logical_date=logical_date,
            ran=False,
            status=Status.SKIP.value,
            run_id=last.run_id if last else None,
            attempt=last.attempt if last else 0,
            record=last,
            reason="already released" + (f" (run {last.run_id}: {last.status})" if last else ""),
        )
    return run_claimed(workflow, record, rendered, backend, previous, heartbeat_seconds, run_options or {})


def _claim(
    backend: AuditBackend,
    workflow: Workflow,
    logical_date: datetime,
    release_type: ReleaseType,
    mode: ReleaseMode,
    params: dict[str, Any],
    parent_run_id: str | None,
) -> ReleaseRecord | None:
    for _ in range(FORCE_CLAIM_TRIES):
        attempt = 1
        if mode is ReleaseMode.FORCE or release_type is ReleaseType.RERUN:
            existing = backend.attempts(workflow.name, logical_date)
            attempt = (existing[-1].attempt + 1) if existing else 1
        record = new_record(workflow, logical_date, release_type, params, attempt, parent_run_id)
        if backend.claim(record):
            return record
        if mode is ReleaseMode.NORMAL and release_type is not ReleaseType.RERUN:
            return None
    raise RunwrightError(f"could not claim a new attempt of {workflow.name} @ {logical_date.isoformat()}")


def new_record(
    workflow: Workflow,
    logical_date: datetime,
    release_type: ReleaseType,
    params: dict[str, Any],
    attempt: int = 1,
    parent_run_id: str | None = None,
) -> ReleaseRecord:
    """A RUNNING record for one attempt, params masked, ready to claim."""
    return ReleaseRecord(
        workflow=workflow.name,
        release=logical_date,
        attempt=attempt,
        type=release_type,
        run_id=new_run_id(),
        parent_run_id=parent_run_id,
        params=mask(to_jsonable(params)),
        definition_hash=workflow.definition_hash,
    )


def run_claimed(
    workflow: Workflow,
    record: ReleaseRecord,
    params: dict[str, Any],
    backend: AuditBackend,
    previous: Mapping[str, Any] | None,
    heartbeat_seconds: float,
    run_options: Mapping[str, Any],
) -> ReleaseOutcome:
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(heartbeat_seconds):
            try:
                backend.heartbeat(record.run_id, utc_now())
            except Exception:  # a missed heartbeat must not kill the run
                pass

    beater = threading.Thread(target=beat, name=f"runwright-heartbeat-{record.run_id}", daemon=True)
    beater.start()
    result: Result | None = None
    try:
        result = workflow.execute(
            params,
            run_id=record.run_id,
            parent_run_id=record.parent_run_id,
            previous=previous,
            **run_options,
        )
        document = result.to_dict()
        final = record.model_copy(
            update={
                "status": ReleaseStatus(result.status.value),
                "params": document["context"].get("params", record.params),
                "context": document["context"],
                "errors": document["errors"],
                "ended": utc_now(),
                "heartbeat": utc_now(),
            }
        )
    except Exception as exc:  # bad params, a bug: the record must still say what happened
        final = record.model_copy(
            update={
                "status": ReleaseStatus.FAILED,
                "errors": [error_record(exc)],
                "ended": utc_now(),
            }
        )
    finally:
        stop.set()
        beater.join(timeout=5)
    if not backend.update(final, expect_running=True):
        # marked CRASHED by a scheduler that thought this process dead: keep its verdict
        current = backend.get(record.run_id)
        final = current or final
    return ReleaseOutcome(
        workflow=workflow.name,
        logical_date=record.release,
        ran=True,
        status=final.status.value,
        run_id=record.run_id,
        attempt=record.attempt,
        result=result,
        record=final,
    )


# -- dry run -----------------------------------------------------------------------------


def dry_run(workflow: Workflow, logical_date: datetime, params: dict[str, Any]) -> ReleaseOutcome:
    """Check everything that can be checked before running: params, expressions, ``uses:``.

    Values that depend on outputs of earlier stages are only known at run time; they are
    compiled (syntax, filters) but not evaluated.
    """
    checks: list[dict[str, Any]] = []
    ok = True
    try:
        typed = workflow.parameterize(params)
    except RunwrightError as exc:
        checks.append({"where": "params", "ok": False, "message": str(exc)})
        typed = None
        ok = False
    for job_id, job in workflow.jobs.items():
        combos = job.strategy.combinations() if job.strategy else [{}]
        for stage in _all_stages(job.stage_list):
            where = f"jobs.{job_id}.stages.{stage.identity}"
            check = _check_stage(workflow, stage, typed, combos[0])
            check["where"] = where
            checks.append(check)
            ok = ok and check["ok"]
    status = Status.SUCCESS if ok else Status.FAILED
    return ReleaseOutcome(
        workflow=workflow.name,
        logical_date=logical_date,
        ran=False,
        status=status.value,
        reason="dry run",
        checks=checks,
    )


def _all_stages(stages: list[Stage]) -> list[Stage]:
    found: list[Stage] = []
    for stage in stages:
        found.append(stage)
        for group in stage.nested_stages():
            found.extend(_all_stages(group))
        for extra in (stage.catch or [], stage.finally_ or []):
            found.extend(_all_stages(extra))
    return found


def _check_stage(
    workflow: Workflow, stage: Stage, params: dict[str, Any] | None, matrix: dict[str, Any]
) -> dict[str, Any]:
    engine = workflow.runtime.expressions
    check: dict[str, Any] = {"kind": stage.kind, "ok": True}
    try:
        engine.check(stage.model_dump(by_alias=True, exclude_none=True, warnings=False))
    except ExpressionError as exc:
        return {**check, "ok": False, "message": str(exc)}
    uses = getattr(stage, "uses", None)
    if uses is None or params is None:
        return check
    context = {"params": params, "matrix": matrix, "jobs": {}, "stages": {}}
    try:
        reference = str(engine.render(uses, context))
        call = workflow.runtime.resolve_call(reference)
    except RunwrightError as exc:
        return {**check, "ok": False, "message": str(exc)}
    check["uses"] = call.signature_text()
    arguments: dict[str, Any] = {}
    deferred: list[str] = []
    for key, value in (getattr(stage, "with_", None) or {}).items():
        try:
            arguments[key] = engine.render(value, context)
        except ExpressionError:
            deferred.append(str(key))
    if deferred:
        check["deferred"] = deferred  # known only at run time
        return check
    try:
        call.validate_arguments(arguments)
    except RunwrightError as exc:
        return {**check, "ok": False, "message": str(exc)}
    return check
