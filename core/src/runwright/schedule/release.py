"""A release: one run of a workflow for one logical date, claimed and recorded in the audit store.

Modes:
- ``normal`` skips a logical date that already has a record (exactly once, across processes);
- ``retry`` runs a new attempt unless an attempt is RUNNING or SUCCESS (backfill and rerun:
  one compare-and-set in the audit store, so racing processes run it once);
- ``force`` runs a new attempt unless an attempt is RUNNING (again, even after a success);
- ``dryrun`` renders every expression it can, resolves every ``uses:`` and checks its
  arguments, and runs nothing (no audit record).

A crashed tick is retried by :func:`retry_crashed`, which claims exactly the attempt after the
crashed one.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from runwright.audit import (
    ACTIVE_STATUSES,
    BLOCKING_STATUSES,
    AuditBackend,
    ReleaseRecord,
    ReleaseStatus,
    ReleaseType,
    keep_log_lines,
    mark_dead_crashed,
    utc_now,
)
from runwright.engine.result import Result, Status, error_record, to_jsonable
from runwright.engine.runner import new_run_id
from runwright.engine.slots import run_claims
from runwright.errors import ExpressionError, RunwrightError
from runwright.heap import HEAP_TRIMMER
from runwright.masking import MASK, MASKER, is_secret_name, mask, numeric_forms
from runwright.models.stage import Stage
from runwright.schedule.heartbeat import HEARTBEATS
from runwright.secret_sources import SecretLookup, environment_lookup, sourced_secrets
from runwright.templating.engine import has_expression

if TYPE_CHECKING:
    from collections.abc import Callable

    from runwright.models.workflow import Workflow
    from runwright.schedule.templates import WorkflowTemplate

    #: Runs a release this process claimed and records its end (:func:`run_claimed`'s signature).
    ClaimedRunner = Callable[
        [
            Workflow,
            ReleaseRecord,
            dict[str, Any],
            AuditBackend,
            Mapping[str, Any] | None,
            float,
            Mapping[str, Any],
        ],
        "ReleaseOutcome",
    ]

HEARTBEAT_SECONDS = 10.0


class ReleaseMode(StrEnum):
    NORMAL = "normal"
    RETRY = "retry"
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
    """Render ``${{ release.* }}`` in params (models/release.py: the logical date, the data
    interval, type, attempt 1, run_date). The result, like
    :class:`DataParams` given, is data and is never rendered again."""
    if isinstance(params, DataParams):
        return DataParams(params)
    if not any(has_expression(value) or isinstance(value, dict | list) for value in (params or {}).values()):
        return DataParams(params or {})
    from runwright.models.release import release_context

    release = release_context(logical_date, release_type.value, events=workflow.on, run_date=run_date)
    variables = {"release": release}
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
    runner: ClaimedRunner | None = None,
    labels: Mapping[str, str] | None = None,
    origin: str | None = None,
) -> ReleaseOutcome:
    """Run ``workflow`` once for ``logical_date``; see the module doc for modes.

    ``labels`` and ``origin`` (the door: cli, api) are stored with the run's record.

    ``render_params=False`` takes params as given (values typed by a person on the command
    line are data, never expressions). ``runner`` runs the claimed release (default
    :func:`run_claimed`, here; a server hands it to a worker process).
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
    backend = audit or make_audit_backend(pm=workflow.runtime.pm, conf_path=workflow.conf_path)
    if mode is ReleaseMode.NORMAL and release_type is ReleaseType.RERUN:
        mode = ReleaseMode.RETRY  # a rerun is a new attempt by definition
    record = new_record(workflow, logical_date, release_type, rendered, 1, parent_run_id, labels, origin)
    claimed = claim_release(backend, record, mode)
    if claimed is None:
        existing = backend.attempts(workflow.name, logical_date)
        blocking = blocking_statuses(mode)
        latest = existing[-1] if existing else None
        last = next((a for a in reversed(existing) if a.status in blocking), latest)
        return ReleaseOutcome(
            workflow=workflow.name,
            logical_date=logical_date,
            ran=False,
            status=Status.SKIP.value,
            run_id=last.run_id if last else None,
            attempt=last.attempt if last else 0,
            record=last,
            reason="already released"
            + (f" (attempt {last.attempt}, run {last.run_id}: {last.status})" if last else ""),
        )
    run = runner or run_claimed
    return run(workflow, claimed, rendered, backend, previous, heartbeat_seconds, run_options or {})


def retry_crashed(
    workflow: Workflow,
    crashed: ReleaseRecord,
    backend: AuditBackend,
    *,
    heartbeat_seconds: float = HEARTBEAT_SECONDS,
    run_options: Mapping[str, Any] | None = None,
    runner: ClaimedRunner | None = None,
) -> ReleaseOutcome | None:
    """Run the release of ``crashed`` (the latest attempt, CRASHED) once more, with its params.

    The claim is of attempt ``crashed.attempt + 1`` exactly, so the crash is retried once
    whoever marked it CRASHED: of racing schedulers one wins, and a rerun or backfill that made
    a new attempt first leaves nothing to retry. None when this process did not win the claim.
    Raises RunwrightError when the params cannot be replayed (a secret is gone).
    """
    secrets = workflow.runtime.secret_lookup(workflow.conf_path)
    params = replay_params(crashed, secrets=secrets)  # stored values are data, never rendered
    record = new_record(
        workflow,
        crashed.release,
        crashed.type,
        params,
        crashed.attempt + 1,
        crashed.run_id,
        crashed.labels,
        crashed.origin,
    )
    if not backend.claim(record):
        return None
    run = runner or run_claimed
    return run(workflow, record, params, backend, None, heartbeat_seconds, run_options or {})


def blocking_statuses(mode: ReleaseMode) -> frozenset[ReleaseStatus]:
    """Statuses of an existing attempt that stop ``mode`` from claiming a new one."""
    if mode is ReleaseMode.NORMAL:
        return frozenset(ReleaseStatus)  # any record at all
    if mode is ReleaseMode.FORCE:
        return ACTIVE_STATUSES
    return BLOCKING_STATUSES


def claim_release(backend: AuditBackend, record: ReleaseRecord, mode: ReleaseMode) -> ReleaseRecord | None:
    """Claim ``record`` (its attempt number chosen by the store) as ``mode`` allows, or None.

    ``normal`` claims attempt 1 only; the other modes claim the next attempt in one
    compare-and-set. An attempt left RUNNING by a dead process is marked CRASHED first, so a
    killed backfill or run does not block its release for ever.
    """
    if mode is ReleaseMode.NORMAL:
        return record if backend.claim(record) else None
    blocking = blocking_statuses(mode)
    claimed = backend.claim_next_attempt(record, unless=blocking)
    if claimed is None:
        existing = backend.attempts(record.workflow, record.release)
        running = [a for a in existing if a.status in ACTIVE_STATUSES]
        if any(a.status is ReleaseStatus.CRASHED for a in mark_dead_crashed(backend, running)):
            claimed = backend.claim_next_attempt(record, unless=blocking)
    return claimed


def new_record(
    workflow: Workflow | WorkflowTemplate,
    logical_date: datetime,
    release_type: ReleaseType,
    params: dict[str, Any],
    attempt: int = 1,
    parent_run_id: str | None = None,
    labels: Mapping[str, str] | None = None,
    origin: str | None = None,
) -> ReleaseRecord:
    """A RUNNING record for one attempt, params masked, ready to claim; it carries the run's
    labels (checked at the door they came in by), the workflow's tags and that door."""
    values = to_jsonable(params)
    return ReleaseRecord(
        workflow=workflow.name,
        release=logical_date,
        attempt=attempt,
        type=release_type,
        run_id=new_run_id(),
        parent_run_id=parent_run_id,
        params=mask(values),
        secret_params=secret_sources(values),
        definition_hash=workflow.definition_hash,
        labels=mask(dict(labels or {})),
        tags=list(workflow.tags),
        origin=origin,
    )


def record_failed_release(
    backend: AuditBackend, record: ReleaseRecord, error: BaseException, *, claimed: bool = False
) -> ReleaseOutcome:
    """Claim ``record`` (unless ``claimed``) and record it FAILED with ``error``: a release that
    cannot start (its template does not validate) is in the audit store like any other."""
    if not claimed and not backend.claim(record):
        return ReleaseOutcome(
            record.workflow, record.release, False, Status.SKIP.value, reason="already released"
        )
    final = record.model_copy(
        update={"status": ReleaseStatus.FAILED, "errors": [error_record(error)], "ended": utc_now()}
    )
    backend.update(final, expect_running=True)
    return ReleaseOutcome(
        workflow=record.workflow,
        logical_date=record.release,
        ran=True,
        status=final.status.value,
        run_id=record.run_id,
        attempt=record.attempt,
        record=final,
        reason=str(error),
    )


# -- secrets in params -------------------------------------------------------------------


def secret_sources(values: Mapping[str, Any]) -> dict[str, list[str | dict[str, str]] | None]:
    """For each param whose value holds a secret: the value as literal text and environment
    variables (``{"env": NAME}``), so a rerun can read the secret again; None when a secret
    in it is not the whole value of an environment variable."""
    sources: dict[str, list[str | dict[str, str]] | None] = {}
    candidates: dict[str, str] | None = None
    for name, value in values.items():
        if mask(value) == value:
            continue
        if candidates is None:
            candidates = secret_environment()
        if isinstance(value, str):
            sources[name] = env_parts(value, candidates)
        elif type(value) in (int, float):  # an int or float param converted from a secret
            sources[name] = number_parts(value, candidates)
        else:
            sources[name] = None
    return sources


def number_parts(value: float, candidates: dict[str, str]) -> list[str | dict[str, str]] | None:
    """``[{"env": NAME}]`` for the variable whose text converts to ``value`` (``007`` -> 7)."""
    for secret, name in candidates.items():
        if repr(value) in numeric_forms(secret):
            return [{"env": name}]
    return None


def secret_environment() -> dict[str, str]:
    """Secret value -> the name of an environment variable holding exactly that value (names
    that look secret preferred), or else the name a secret source gave it under (a ``.env``
    file, the secrets folder, a plugin's store: read again through the sources on rerun)."""
    found: dict[str, str] = {}
    for name, value in sorted(os.environ.items(), key=lambda item: not is_secret_name(item[0])):
        if value and value not in found and mask(value) == MASK:
            found[value] = name
    for value, name in sourced_secrets().items():
        found.setdefault(value, name)
    return found


def env_parts(value: str, candidates: dict[str, str]) -> list[str | dict[str, str]] | None:
    """``value`` split into literal text and ``{"env": NAME}`` parts; None if a secret is left."""
    if not candidates:
        return None
    pattern = re.compile("|".join(re.escape(v) for v in sorted(candidates, key=len, reverse=True)))
    parts: list[str | dict[str, str]] = []
    position = 0
    for match in pattern.finditer(value):
        if match.start() > position:
            parts.append(value[position : match.start()])
        parts.append({"env": candidates[match.group()]})
        position = match.end()
    if position < len(value):
        parts.append(value[position:])
    literal = "".join(part for part in parts if isinstance(part, str))
    return parts if mask(literal) == literal else None


def replay_params(
    record: ReleaseRecord,
    overrides: Mapping[str, Any] | None = None,
    secrets: SecretLookup | None = None,
) -> dict[str, Any]:
    """The params to run ``record``'s release again with: secrets read again from ``secrets``
    (the workflow's secret sources; default the environment alone), ``overrides`` on top. Never
    the masked ``***`` text.

    Raises RunwrightError naming the param when a secret cannot be found again.
    """
    secrets = secrets or environment_lookup()
    overrides = dict(overrides or {})
    params: dict[str, Any] = {}
    for name, value in record.params.items():
        if name in overrides:
            continue
        if name in record.secret_params:
            params[name] = resolve_secret_param(record, name, secrets)
        elif isinstance(value, str) and MASK in value:  # a record written before secret_params
            raise RunwrightError(
                f"param '{name}' of run {record.run_id} is stored masked ({value!r}) and cannot be "
                f"replayed; pass it again with -p {name}=VALUE"
            )
        else:
            params[name] = value
    params.update(overrides)
    return params


def resolve_secret_param(record: ReleaseRecord, name: str, secrets: SecretLookup) -> str:
    parts = record.secret_params[name]
    if parts is None:
        raise RunwrightError(
            f"param '{name}' of run {record.run_id} held a secret that did not come from an "
            f"environment variable, so it cannot be read again; pass it with -p {name}=VALUE"
        )
    text = []
    for part in parts:
        if isinstance(part, str):
            text.append(part)
            continue
        variable = part["env"]
        secret = secrets.get(variable)
        if not secret:
            raise RunwrightError(
                f"param '{name}' of run {record.run_id} came from the secret environment variable "
                f"{variable}, which is not set now (looked in: {secrets.looked_in()}); set it, or "
                f"pass the param with -p {name}=VALUE"
            )
        MASKER.keep(secret)  # from the environment or a secret source: bounded by them
        text.append(secret)
    return "".join(text)


def run_claimed(
    workflow: Workflow,
    record: ReleaseRecord,
    params: dict[str, Any],
    backend: AuditBackend,
    previous: Mapping[str, Any] | None,
    heartbeat_seconds: float,
    run_options: Mapping[str, Any],
) -> ReleaseOutcome:
    """Run a claimed release and record its end. A run with a ``concurrency:`` group or
    ``max-active-runs`` first waits for its slots (recorded QUEUED meanwhile); its jobs' and
    stages' groups and pools are held through the same store (docs/concurrency.md)."""
    from runwright.engine.context import CancelScope
    from runwright.schedule.slots import StoreSlots

    result: Result | None = None
    queue_note: dict[str, Any] = {}
    not_run_reason = ""
    try:
        options = dict(run_options)
        options.setdefault("release", record_release(workflow, record))
        slots = StoreSlots(backend, workflow.name, record.run_id, workflow.runtime, workflow.conf_path)
        scope = (options.get("scope") or CancelScope()).child()
        options.update(scope=scope, slots=slots)
        with HEARTBEATS.beating(backend, record.run_id, heartbeat_seconds):
            claims = run_claims(
                workflow,
                record.run_id,
                {"params": workflow.parameterize(params, options["release"]), "release": options["release"]},
            )

            def queued(what: str, position: int | None) -> None:
                queue_note.update(waiting_for=what, position=position, queued_at=utc_now().isoformat())
                note_queue(backend, record, ReleaseStatus.QUEUED, queue_note)

            with slots.holding(claims, scope, on_queued=queued) as verdict:
                if verdict.held:
                    if queue_note:
                        held_at = datetime.fromtimestamp(verdict.held_at, UTC).isoformat()
                        queue_note.update(waited_seconds=verdict.waited_seconds, started_at=held_at)
                        note_queue(backend, record, ReleaseStatus.RUNNING, queue_note)
                    result = workflow.execute(
                        params,
                        run_id=record.run_id,
                        parent_run_id=record.parent_run_id,
                        previous=previous,
                        **options,
                    )
        if result is None:  # not run: its group was full (SKIP) or it was cancelled while queued
            final, result = not_run(workflow, record, verdict.status, verdict.reason, queue_note)
            not_run_reason = verdict.reason
        else:
            document = result.to_dict()
            context = {**document["context"], **({"concurrency": queue_note} if queue_note else {})}
            if result.status is Status.CANCEL and scope.reason and not document["errors"]:
                document["errors"] = [{"name": "Cancelled", "message": scope.reason}]  # say why
            final = record.model_copy(
                update={
                    "status": ReleaseStatus(result.status.value),
                    "params": document["context"].get("params", record.params),
                    "secret_params": {
                        **record.secret_params,
                        **secret_sources(to_jsonable(result.context.get("params", {}))),
                    },
                    "context": context,
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
    # before the record says the run ended: who sees it ended finds its lines, and a server
    # counts the run active until both are written
    keep_log_lines(backend, record.run_id, workflow.name, result.log_file if result else None)
    if not backend.update(final, expect_running=True):
        # marked CRASHED by a scheduler that thought this process dead: keep its verdict
        current = backend.get(record.run_id)
        final = current or final
    HEAP_TRIMMER.run_ended()  # a scheduler, a server or its worker: give freed heap back now and then
    return ReleaseOutcome(
        workflow=workflow.name,
        logical_date=record.release,
        ran=True,
        status=final.status.value,
        run_id=record.run_id,
        attempt=record.attempt,
        result=result,
        record=final,
        reason=not_run_reason,
    )


def note_queue(
    backend: AuditBackend, record: ReleaseRecord, status: ReleaseStatus, note: dict[str, Any]
) -> None:
    """Record that the run waits for a slot (QUEUED, with what it waits for) or has got it."""
    backend.update(
        record.model_copy(update={"status": status, "context": {"concurrency": dict(note)}}),
        expect_running=True,
    )


def not_run(
    workflow: Workflow, record: ReleaseRecord, status: str, reason: str, note: dict[str, Any]
) -> tuple[ReleaseRecord, Result]:
    """The record and result of a run that never started: SKIP (its group or queue was full)
    or CANCEL (cancelled, or preempted, while it waited)."""
    name = "ConcurrencyLimit" if status == Status.SKIP.value else "Cancelled"
    errors = [{"name": name, "message": reason}]
    ended = utc_now()
    context = {"params": record.params, "jobs": {}, "concurrency": {**note, "not_run": reason}}
    final = record.model_copy(
        update={"status": ReleaseStatus(status), "errors": errors, "context": context, "ended": ended}
    )
    result = Result(
        status=Status(status),
        run_id=record.run_id,
        context=context,
        errors=errors,
        parent_run_id=record.parent_run_id,
        workflow=workflow.name,
        started=record.started,
        ended=ended,
    )
    return final, result


def record_release(workflow: Workflow, record: ReleaseRecord) -> dict[str, Any]:
    """The ``release`` context of a claimed release: its tick in the cron's zone, its type and
    attempt, the data interval from the workflow's ``on:`` entries."""
    from runwright.models.release import release_context

    zone = workflow.zone
    logical_date = record.release.astimezone(zone) if zone is not None else record.release
    return release_context(
        logical_date, record.type.value, events=workflow.on, attempt=record.attempt, run_date=record.started
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
