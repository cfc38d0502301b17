"""Backfill: replay a window of cron ticks, oldest first, each a release for its logical date.

The same releases the scheduler makes (claimed in the audit store, ``release`` context and
date params from the tick), with the type ``backfill``. What a tick does depends on its
attempts so far and the options:

- default: run it unless an attempt is RUNNING or SUCCESS (a new attempt after a failure);
- ``force``: a new attempt unless one is RUNNING, even after a success;
- ``only_failed``: a new attempt only where the last attempt FAILED, CRASHED or was cancelled
  (ticks never run are left alone);
- ``dry_run``: nothing is claimed or run; each tick says what would happen, with its params.

A date-only end (``2024-03-03``) includes that whole day.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from runwright.audit import (
    ACTIVE_STATUSES,
    AuditBackend,
    ReleaseRecord,
    ReleaseStatus,
    ReleaseType,
    mark_dead_crashed,
)
from runwright.errors import RunwrightError, TooManyTicks
from runwright.models.release import release_context
from runwright.schedule.cron import MAX_TICKS, ticks_between
from runwright.schedule.release import (
    HEARTBEAT_SECONDS,
    DataParams,
    ReleaseMode,
    ReleaseOutcome,
    claim_release,
    new_record,
    release_params,
    run_claimed,
)

if TYPE_CHECKING:
    from runwright.engine.context import CancelScope
    from runwright.models.events import CronEvent
    from runwright.models.workflow import Workflow

REDO_STATUSES = frozenset({ReleaseStatus.FAILED, ReleaseStatus.CRASHED, ReleaseStatus.CANCEL})
"""A last attempt with one of these is redone by ``only_failed``."""


@dataclass
class BackfillTarget:
    """One workflow to backfill on some cron entries; ``template_params`` are a Schedule's."""

    workflow: Workflow
    events: list[CronEvent]
    template_params: dict[str, Any] | None = None


def backfill_targets(template: Any, load_workflow: Callable[[str], Workflow]) -> list[BackfillTarget]:
    """The workflow ``template``, or each workflow of the Schedule ``template``."""
    from runwright.models.schedule import Schedule
    from runwright.models.workflow import Workflow

    if isinstance(template, Workflow):
        if not template.on:
            raise RunwrightError(f"workflow '{template.name}' has no 'on:' schedule to backfill")
        return [BackfillTarget(template, list(template.on))]
    if not isinstance(template, Schedule):
        raise RunwrightError(
            f"'{template.name}' is a {type(template).__name__}: backfill a Workflow or a Schedule"
        )
    targets = []
    for item in template.workflows:
        workflow = load_workflow(item.name)
        events = list(item.on or workflow.on)
        if not events:
            raise RunwrightError(
                f"schedule '{template.name}': workflow '{item.name}' has no 'on:' here or in its template"
            )
        targets.append(BackfillTarget(workflow, events, dict(item.params)))
    return targets


def read_window_end(text: str) -> datetime:
    """``--end`` as typed: a date alone is the end of that day; naive values stay naive."""
    try:
        if len(text.strip()) == 10:
            day = date.fromisoformat(text.strip())
            return datetime.combine(day + timedelta(days=1), time()) - timedelta(microseconds=1)
        return datetime.fromisoformat(text)
    except ValueError:
        raise RunwrightError(f"--end: expected an ISO date or datetime, got '{text}'") from None


def read_window_start(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        raise RunwrightError(f"--start: expected an ISO date or datetime, got '{text}'") from None


@dataclass
class BackfillTick:
    """One tick of the window: what it will do (``run``, ``new attempt``, ``skip``) and why."""

    target: BackfillTarget
    tick: datetime
    params: dict[str, Any]
    action: str
    reason: str = ""
    mode: ReleaseMode = ReleaseMode.RETRY
    outcome: ReleaseOutcome | None = None
    rendered: dict[str, Any] = field(default_factory=dict)

    @property
    def workflow(self) -> Workflow:
        return self.target.workflow

    def document(self) -> dict[str, Any]:
        """JSON-able: for ``--dry-run --json`` and the API."""
        from runwright.engine.result import to_jsonable
        from runwright.masking import mask

        document: dict[str, Any] = {
            "workflow": self.workflow.name,
            "logical_date": self.tick.isoformat(),
            "action": self.action,
            "reason": self.reason,
            "params": mask(to_jsonable(self.rendered or self.params)),
        }
        if self.outcome is not None:
            document.update(
                status=self.outcome.status, run_id=self.outcome.run_id, attempt=self.outcome.attempt
            )
        return document


def window_ticks(
    targets: list[BackfillTarget], first: datetime, last: datetime
) -> list[tuple[BackfillTarget, datetime]]:
    """Every (target, tick) with first <= tick <= last, in logical-date order (UTC instants:
    both 01:30s of a clocks-back night are kept, in the order they happen)."""
    found: list[tuple[datetime, int, BackfillTarget, datetime]] = []
    for index, target in enumerate(targets):
        seen: dict[datetime, datetime] = {}
        for event in target.events:
            start = _in_zone(first, event) - timedelta(microseconds=1)
            try:
                ticks = ticks_between(event, start, _in_zone(last, event))
            except TooManyTicks:
                raise TooManyTicks(
                    f"backfill of workflow '{target.workflow.name}' from {first.isoformat()} to "
                    f"{last.isoformat()}: more than {MAX_TICKS:,} ticks of '{event.cronjob}'; "
                    f"narrow --start/--end (at most {MAX_TICKS:,} ticks per backfill)",
                    event.cronjob,
                ) from None
            for tick in ticks:
                seen.setdefault(tick.astimezone(UTC), tick)
        found.extend((instant, index, target, tick) for instant, tick in seen.items())
    found.sort(key=lambda item: (item[0], item[1]))
    return [(target, tick) for _, _, target, tick in found]


def _in_zone(value: datetime, event: CronEvent) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=event.zone)


def plan_backfill(
    targets: list[BackfillTarget],
    first: datetime,
    last: datetime,
    audit: AuditBackend,
    params: Mapping[str, Any] | None = None,
    *,
    force: bool = False,
    only_failed: bool = False,
) -> list[BackfillTick]:
    """Each tick of the window with its params and what it would do (nothing claimed yet)."""
    if force and only_failed:
        raise RunwrightError("--force and --only-failed cannot be used together")
    given = dict(params or {})
    plan = []
    for target, tick in window_ticks(targets, first, last):
        workflow = target.workflow
        if target.template_params is None:
            tick_params: dict[str, Any] = DataParams(given)
        else:  # the Schedule's expressions are rendered for the tick; -p values stay as typed
            rendered = release_params(target.template_params, tick, ReleaseType.BACKFILL, workflow)
            tick_params = DataParams({**rendered, **given})
        attempts = audit.attempts(workflow.name, tick)
        if any(a.status in ACTIVE_STATUSES for a in attempts):  # left by a killed process?
            attempts = mark_dead_crashed(audit, attempts)
        plan.append(_decide(target, tick, tick_params, attempts, force, only_failed))
    return plan


def _decide(
    target: BackfillTarget,
    tick: datetime,
    params: dict[str, Any],
    attempts: list[Any],
    force: bool,
    only_failed: bool,
) -> BackfillTick:
    last = attempts[-1] if attempts else None
    running = [a for a in attempts if a.status in ACTIVE_STATUSES]
    succeeded = [a for a in attempts if a.status is ReleaseStatus.SUCCESS]
    if running:
        return BackfillTick(target, tick, params, "skip", f"attempt {running[-1].attempt} is RUNNING")
    if last is None:
        if only_failed:
            return BackfillTick(target, tick, params, "skip", "never run (--only-failed)")
        return BackfillTick(target, tick, params, "run", "never run")
    described = f"attempt {last.attempt} {last.status.value}"
    if force:
        return BackfillTick(target, tick, params, "new attempt", f"{described} (--force)", ReleaseMode.FORCE)
    if only_failed:
        if last.status in REDO_STATUSES:
            return BackfillTick(target, tick, params, "new attempt", described, ReleaseMode.FORCE)
        return BackfillTick(target, tick, params, "skip", f"{described} (--only-failed)")
    if succeeded:
        return BackfillTick(target, tick, params, "skip", "already SUCCESS")
    return BackfillTick(target, tick, params, "new attempt", described)


def render_plan(plan: list[BackfillTick]) -> None:
    """Each tick's params as its run would see them (``release`` and date defaults included);
    a tick whose params are bad says so in its reason."""
    for item in plan:
        context = release_context(item.tick, "backfill", events=item.workflow.on)
        try:
            item.rendered = item.workflow.parameterize(item.params, context)
        except RunwrightError as exc:
            item.rendered = dict(item.params)
            item.reason = f"{item.reason}; bad params: {exc}"


def claim_tick(item: BackfillTick, audit: AuditBackend) -> ReleaseRecord | None:
    """Claim the tick's release as its action says (one compare-and-set in the store); None
    when another process took it first."""
    record = new_record(item.workflow, item.tick, ReleaseType.BACKFILL, dict(item.params))
    return claim_release(audit, record, item.mode)


def run_backfill(
    plan: list[BackfillTick],
    audit: AuditBackend,
    *,
    max_active: int = 1,
    scope: CancelScope | None = None,
    on_done: Callable[[BackfillTick], None] | None = None,
    run_options: Mapping[str, Any] | None = None,
) -> list[BackfillTick]:
    """Run the plan's ticks in logical-date order, ``max_active`` at a time: each is claimed
    here, in order, before it is handed to a thread.

    Cancelling ``scope`` (Ctrl-C) starts no more ticks and cancels the running ones, which are
    recorded CANCEL; this returns once every started tick is recorded.
    """
    from runwright.engine.context import CancelScope

    scope = scope or CancelScope()
    todo: Iterator[BackfillTick] = iter([item for item in plan if item.action != "skip"])
    running: dict[Future[ReleaseOutcome], BackfillTick] = {}
    done: list[BackfillTick] = []
    options = {**(run_options or {}), "scope": scope}

    def finished(item: BackfillTick) -> None:
        done.append(item)
        if on_done is not None:
            on_done(item)

    def start(pool: ThreadPoolExecutor) -> bool:
        for item in todo:
            record = claim_tick(item, audit)
            if record is None:
                item.outcome = ReleaseOutcome(
                    item.workflow.name, item.tick, False, "SKIP", reason="claimed by another process"
                )
                finished(item)
                continue
            params = dict(item.params)
            future = pool.submit(
                run_claimed, item.workflow, record, params, audit, None, HEARTBEAT_SECONDS, options
            )
            running[future] = item
            return True
        return False

    with ThreadPoolExecutor(max(1, max_active), thread_name_prefix="runwright-backfill") as pool:
        while not scope.cancelled and len(running) < max(1, max_active) and start(pool):
            pass
        while running:
            ended, _ = wait(list(running), timeout=0.2, return_when=FIRST_COMPLETED)
            for future in ended:
                item = running.pop(future)
                try:
                    item.outcome = future.result()
                except Exception as exc:  # one bad tick never stops the others
                    item.outcome = ReleaseOutcome(
                        item.workflow.name, item.tick, False, "FAILED", reason=str(exc)
                    )
                finished(item)
                if not scope.cancelled:
                    start(pool)
    return done
