"""The scheduler: release every scheduled workflow at its cron ticks, exactly once per tick.

It keeps a heap of (next tick, entry), so one wake-up only looks at what is due. It sleeps
until the next due tick (never a busy loop), reloads templates whose files changed, marks
releases left RUNNING by a dead process as CRASHED and, at start, retries each crashed tick once
where the entry allows (whoever marked it), and stops cleanly: running releases finish, or are
cancelled and recorded CANCEL.
"""

from __future__ import annotations

import heapq
import json
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runwright.audit import (
    ACTIVE_STATUSES,
    BLOCKING_STATUSES,
    AuditBackend,
    ReleaseRecord,
    ReleaseStatus,
    ReleaseType,
    crash_reason,
    make_audit_backend,
    utc_now,
)
from runwright.config import Limits, Settings
from runwright.errors import RunwrightError, TemplateError, TooManyTicks
from runwright.loader import BrokenConf, build_model, collection_paused, conf_files, discover
from runwright.models.events import CronEvent
from runwright.models.schedule import Schedule
from runwright.models.workflow import Workflow
from runwright.runtime import Runtime
from runwright.schedule.clock import Clock, SystemClock
from runwright.schedule.cron import MAX_TICKS, latest_tick, next_tick, ticks_between
from runwright.schedule.release import (
    ReleaseMode,
    ReleaseOutcome,
    new_record,
    record_failed_release,
    release_params,
    retry_crashed,
    run_claimed,
)
from runwright.schedule.release_triggers import followers_graph, release_followers, release_problems
from runwright.schedule.templates import LazyWorkflows, WorkflowTemplate, schedule_of
from runwright.templating.engine import has_expression

if TYPE_CHECKING:
    from runwright.schedule.release import ClaimedRunner

log = logging.getLogger("runwright.scheduler")

DEFAULT_STOP_BOUNDARY = timedelta(minutes=5)
CRASHED_HEARTBEAT_AGE = timedelta(minutes=2)
SHUTDOWN_GRACE_SECONDS = 30.0
MAX_REMEMBERED_CLAIMS = 10_000
"""Claims of this process remembered, to tell a claim it lost to itself from another process's
(bounded: a claim is lost to itself only near its tick; the oldest half is dropped when full)."""
MAX_KEPT_OUTCOMES = 1_000
"""Releases a scheduler that runs until stopped keeps in memory (the audit store has them all)."""
WARM_UP_MARGIN = timedelta(seconds=1)


def parse_duration(text: str) -> timedelta:
    """``PT5M``/``P1DT2H`` (ISO 8601), ``{"minutes": 5}`` (JSON) or plain seconds."""
    text = text.strip()
    if text.startswith("{"):
        return timedelta(**{k: float(v) for k, v in json.loads(text).items()})
    match = re.fullmatch(
        r"P(?:(?P<days>\d+(?:\.\d+)?)D)?(?:T(?:(?P<hours>\d+(?:\.\d+)?)H)?"
        r"(?:(?P<minutes>\d+(?:\.\d+)?)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?",
        text,
    )
    if match and text not in ("P", "PT"):
        return timedelta(**{k: float(v) for k, v in match.groupdict().items() if v})
    try:
        return timedelta(seconds=float(text))
    except ValueError:
        raise RunwrightError(
            f"cannot read duration '{text}' (use ISO 8601 like PT5M, JSON like "
            '{"minutes": 5}, or seconds)'
        ) from None


def stop_boundary(now: datetime) -> datetime:
    """now + ``RUNWRIGHT_STOP_BOUNDARY_DELTA`` (default 5 minutes)."""
    text = Settings.from_env().stop_boundary_delta
    return now + (parse_duration(text) if text else DEFAULT_STOP_BOUNDARY)


@dataclass
class Entry:
    """One (workflow, cron event, params) to release; from a workflow's `on:` or a Schedule."""

    workflow: str
    event: CronEvent
    params: dict[str, Any]
    source: str

    @property
    def key(self) -> str:
        return f"{self.source}:{self.workflow}:{self.event.cronjob}:{self.event.timezone}"


@dataclass(order=True)
class _Due:
    """A heap item, ordered by the UTC instant: two local times of one zone compare by wall
    clock, so across a DST fold 01:00 EST would sort before 01:50 EDT."""

    instant: datetime = field(init=False)
    when: datetime = field(compare=False)
    key: str = field(compare=True)

    def __post_init__(self) -> None:
        self.instant = self.when.astimezone(UTC)


class Scheduler:
    """Releases due ticks of every scheduled workflow in a conf path."""

    def __init__(
        self,
        conf_path: Path | str | None = None,
        *,
        audit: AuditBackend | None = None,
        clock: Clock | None = None,
        runtime: Runtime | None = None,
        only: list[str] | None = None,
        max_workers: int = 4,
        heartbeat_seconds: float = 10.0,
        crashed_after: timedelta = CRASHED_HEARTBEAT_AGE,
        grace_seconds: float = SHUTDOWN_GRACE_SECONDS,
        runner: ClaimedRunner | None = None,
    ) -> None:
        """``runner`` runs each release this scheduler claimed (default: :func:`run_claimed`, on
        this process's threads; a server passes one that hands it to a worker process)."""
        self.runner = runner
        self.runtime = runtime or Runtime.default()
        self.conf_path = Path(conf_path) if conf_path else Settings.from_env().conf_path
        self.audit = audit or make_audit_backend(pm=self.runtime.pm, conf_path=self.conf_path)
        self.clock: Clock = clock or SystemClock()
        self.only = only
        self.max_workers = max_workers
        self.heartbeat_seconds = heartbeat_seconds
        self.crashed_after = crashed_after
        self.grace_seconds = grace_seconds
        self.stop_event = threading.Event()
        self.entries: dict[str, Entry] = {}
        self.release_graph: dict[str, list[str]] = {}
        self.templates: dict[str, WorkflowTemplate] = {}
        self.workflows: Mapping[str, Workflow] = {}
        self.skipped: list[str] = []
        self.schedule_count = 0
        self.outcomes: list[ReleaseOutcome] | deque[ReleaseOutcome] = []
        self.outcome_listeners: list[Callable[[ReleaseOutcome], None]] = []
        self._heap: list[_Due] = []
        self._claimed: dict[tuple[str, datetime], None] = {}
        self._warm = False
        self._shared_said: set[tuple[str, ...]] = set()
        self.paused: set[str] = set()
        """The paused workflows as this scheduler last read them from the store."""
        self._mtimes: dict[Path, float] = {}
        self._lock = threading.Lock()

    # -- templates ---------------------------------------------------------------------

    def load(self, *, report: bool = True) -> None:
        """(Re)build the entries from the conf path; keep each entry's place in time.

        Each template newly skipped is logged as an error (``report=False``: left to the
        start-up summary)."""
        before = set(self.skipped)
        with collection_paused():  # reading allocates ~20 objects per YAML node, all kept
            self._load()
        for message in self.skipped if report else ():
            if message not in before:
                log.error("skipped: %s", message)

    def _load(self) -> None:
        """Read the conf path.

        Only what deciding ticks needs is validated here (see :mod:`runwright.schedule.templates`);
        what is skipped, and why, is kept in :attr:`skipped` for the start-up summary.
        """
        broken: list[BrokenConf] = []
        sources = discover(self.conf_path, broken)  # a broken file never stops the others
        skipped = [problem.message for problem in broken]
        templates: dict[str, WorkflowTemplate] = {}
        entries: dict[str, Entry] = {}
        schedules: list[Schedule] = []
        known_types = self.runtime.template_types
        for name, source in sources.items():
            template_type = source.raw.get("type")
            if template_type == "Workflow":
                try:
                    secrets = self.runtime.secret_lookup(source.root or source.file.parent)
                    events, released_after = schedule_of(source, secrets)
                except RunwrightError as exc:
                    skipped.append(str(exc))
                    continue
                previous = self.templates.get(name)
                if previous is not None and previous.source == source:
                    previous.events, previous.released_after = events, released_after
                    templates[name] = previous  # unchanged: keep its built model (or its error)
                else:
                    templates[name] = WorkflowTemplate(source, events, released_after, self.conf_path)
            elif template_type == "Schedule":
                if self.only is not None and name not in self.only:
                    continue
                try:
                    schedules.append(build_model(source, self.runtime, Schedule))
                except RunwrightError as exc:
                    skipped.append(str(exc))
            elif template_type not in known_types:
                shown = (
                    "the key 'type' is missing"
                    if template_type is None
                    else f"unknown type '{template_type}'"
                )
                expected = ", ".join(sorted(known_types))
                skipped.append(f"{source.file}: template '{name}': {shown} (expected one of: {expected})")
        if self.only is None:
            for template in templates.values():
                for event in template.events:
                    entry = Entry(template.name, event, {}, "workflow")
                    entries[entry.key] = entry
        for schedule in schedules:
            for item in schedule.workflows:
                if item.name not in templates:
                    skipped.append(
                        f"{schedule._source}: template '{schedule.name}': workflows: names unknown "
                        f"or skipped workflow '{item.name}'"
                    )
                    continue
                for event in item.on or templates[item.name].events:
                    entry = Entry(item.name, event, item.params, f"schedule:{schedule.name}")
                    entries[entry.key] = entry
        problems = release_problems(templates)
        skipped += [f"on.release: {problem}" for problem in problems]
        with self._lock:
            self.templates = templates
            self.workflows = LazyWorkflows(templates, self.runtime)
            self.release_graph = followers_graph(templates)
            self.skipped = skipped
            self.schedule_count = len(schedules)
            old = {due.key for due in self._heap}
            self.entries = entries
            self._heap = [due for due in self._heap if due.key in entries]
            heapq.heapify(self._heap)
            now = self.clock.now()
            latest: dict[str, datetime | None] = {}
            for key, entry in entries.items():
                if key not in old:
                    self._push(entry, self._resume_point(entry, now, latest))
        self._mtimes = self._snapshot_mtimes()
        self._warm = False

    def _snapshot_mtimes(self) -> dict[Path, float]:
        try:
            return {p: p.stat().st_mtime for p in conf_files(self.conf_path)}
        except (OSError, RunwrightError):
            return {}

    def reload_if_changed(self) -> bool:
        if self._snapshot_mtimes() != self._mtimes:
            log.info("templates changed on disk: reloading")
            self.load()
            return True
        return False

    # -- time ----------------------------------------------------------------------------

    def _resume_point(
        self, entry: Entry, now: datetime, seen: dict[str, datetime | None] | None = None
    ) -> datetime:
        """Where this entry's ticks start: after its latest released tick (catch-up), else now.

        ``seen`` keeps each workflow's latest release for one load (one query per workflow)."""
        seen = {} if seen is None else seen
        if entry.workflow not in seen:
            seen[entry.workflow] = self._latest_release(entry.workflow)
        latest = seen[entry.workflow]
        if latest is None:
            return now
        window = entry.event.catchup
        try:
            missed = ticks_between(entry.event, latest, now)
        except TooManyTicks:  # down for long: only the ticks it may still release are listed
            log.warning(
                "skipping more than %s missed ticks of %s since %s (outside catch-up)",
                f"{MAX_TICKS:,}",
                entry.workflow,
                latest.isoformat(),
            )
            return self._resume_after_long_gap(entry, latest, now)
        if not missed:
            return now
        if window is None:
            keep = missed[-1:]
        else:
            keep = [tick for tick in missed if tick >= now - window]
        for tick in missed:
            if tick not in keep:
                log.warning("skipping missed tick %s of %s (outside catch-up)", tick, entry.workflow)
        return keep[0] - timedelta(microseconds=1) if keep else now

    def _resume_after_long_gap(self, entry: Entry, latest: datetime, now: datetime) -> datetime:
        """Where ticks start after more missed ticks than can be listed: the catch-up window's
        ticks (when it holds fewer than MAX_TICKS), else the latest tick only."""
        window = entry.event.catchup
        if window is not None:
            try:
                kept = ticks_between(entry.event, max(latest, now - window - timedelta(microseconds=1)), now)
            except TooManyTicks:
                kept = []
            if kept:
                return kept[0] - timedelta(microseconds=1)
        last = latest_tick(entry.event, now)
        return last - timedelta(microseconds=1) if last is not None and last > latest else now

    def _latest_release(self, workflow: str) -> datetime | None:
        return self.audit.latest_release(workflow)

    def _push(self, entry: Entry, after: datetime) -> None:
        tick = next_tick(entry.event, after)
        if tick is not None:
            heapq.heappush(self._heap, _Due(tick, entry.key))

    def next_wake(self) -> datetime | None:
        """The next due tick as a UTC instant (a clock set to a local time in a DST fold would
        step back an hour on ``+ timedelta``)."""
        with self._lock:
            return self._heap[0].instant if self._heap else None

    def due(self, now: datetime) -> list[tuple[Entry, datetime]]:
        """Pop every (entry, tick) due at ``now``, oldest first; schedule each entry's next."""
        found: list[tuple[Entry, datetime]] = []
        with self._lock:
            while self._heap and self._heap[0].instant <= now:
                item = heapq.heappop(self._heap)
                entry = self.entries.get(item.key)
                if entry is None:
                    continue
                found.append((entry, item.when))
                self._push(entry, item.when)
        return found

    # -- crash recovery ------------------------------------------------------------------

    def recover(self) -> list[ReleaseOutcome]:
        """Mark releases left RUNNING by a dead process CRASHED; retry crashed ticks once.

        What is retried does not depend on who marked a run CRASHED (this scheduler, ``audit
        list``, ``run``, a server): it is every scheduled tick of a ``retry-crashed`` workflow
        whose latest attempt is CRASHED, with no attempt RUNNING or SUCCESS (see
        :meth:`crashed_ticks`). The retry claims the attempt after the crashed one, so it runs
        once across processes and restarts."""
        now = utc_now()
        active = [r for status in ACTIVE_STATUSES for r in self.audit.list(status=status)]
        for record in active:
            why = crash_reason(record, now, self.crashed_after)
            if why is not None and self.audit.mark_crashed(record.run_id, why):
                log.warning("release %s of %s: %s", record.release, record.workflow, why)
        retried: list[ReleaseOutcome] = []
        for crashed in self.crashed_ticks():
            template = self.templates[crashed.workflow]
            try:
                outcome = retry_crashed(
                    template.build(self.runtime),
                    crashed,
                    self.audit,
                    heartbeat_seconds=self.heartbeat_seconds,
                    runner=self.runner,
                )
            except RunwrightError as exc:
                log.error("cannot re-release %s of %s: %s", crashed.release, crashed.workflow, exc)
                continue
            if outcome is not None:
                log.warning(
                    "release %s of %s: attempt %d crashed; re-released as attempt %d: %s",
                    crashed.release, crashed.workflow, crashed.attempt, outcome.attempt, outcome.status,
                )  # fmt: skip
                retried.append(outcome)
        self._keep(retried)
        return retried

    def crashed_ticks(self) -> list[ReleaseRecord]:
        """The crashed attempts to retry: for each workflow with a ``retry-crashed`` entry, each
        scheduled tick whose latest attempt is CRASHED and none RUNNING or SUCCESS."""
        wanted = {entry.workflow for entry in self.entries.values() if entry.event.retry_crashed}
        retrying = sorted((wanted & set(self.templates)) - self.paused)
        found: list[ReleaseRecord] = []
        for workflow in retrying:
            crashed = self.audit.list(workflow=workflow, status=ReleaseStatus.CRASHED)
            ticks = sorted({r.release.astimezone(UTC) for r in crashed if r.type is ReleaseType.SCHEDULED})
            for tick in ticks:
                attempts = self.audit.attempts(workflow, tick)
                if (
                    attempts
                    and attempts[-1].status is ReleaseStatus.CRASHED
                    and not any(a.status in BLOCKING_STATUSES for a in attempts)
                ):
                    found.append(attempts[-1])
        return found

    # -- pauses (issue 26) ----------------------------------------------------------------

    def read_pauses(self, now: datetime) -> set[str]:
        """Read the paused workflows from the store (every scheduler sharing it reads them at
        each wake-up, so a pause holds from its next tick on).

        A workflow unpaused since the last read restarts from the catch-up rule, as after
        downtime (:meth:`_resume_point`): its missed ticks within ``catchup`` run, by default
        only the latest one, never all the ticks skipped while it was paused. A store that cannot
        be read keeps the last answer (a pause is never dropped because a query failed)."""
        try:
            paused = set(self.audit.paused())
        except Exception as exc:
            log.error("cannot read paused workflows from the audit store (keeping the last known): %s", exc)
            return self.paused
        lifted, added = self.paused - paused, paused - self.paused
        for name in sorted(added):
            log.info("%s is paused: its ticks are not released until it is unpaused", name)
        if lifted:
            with self._lock:
                keys = {key for key, entry in self.entries.items() if entry.workflow in lifted}
                self._heap = [due for due in self._heap if due.key not in keys]
                heapq.heapify(self._heap)
                latest: dict[str, datetime | None] = {}
                for key in sorted(keys):
                    entry = self.entries[key]
                    resume = self._resume_point(entry, now, latest)  # "now" leaves out a tick at now
                    self._push(entry, min(resume, now - timedelta(microseconds=1)))
            for name in sorted(lifted):
                log.info("%s is unpaused: missed ticks follow its catch-up rule", name)
        self.paused = paused
        return paused

    def unpaused(self, due: list[tuple[Entry, datetime]]) -> list[tuple[Entry, datetime]]:
        """``due`` without the ticks of paused workflows (the pause itself is logged once, when
        it is noticed; each tick it holds back only at debug level: a pause may last months)."""
        kept = []
        for entry, tick in due:
            if entry.workflow in self.paused:
                log.debug("%s @ %s: not released, the workflow is paused", entry.workflow, tick.isoformat())
            else:
                kept.append((entry, tick))
        return kept

    def unpaused_followers(self) -> dict[str, list[str]]:
        """The ``on: release`` graph without paused followers."""
        if not self.paused:
            return self.release_graph
        return {
            upstream: [name for name in followers if name not in self.paused]
            for upstream, followers in self.release_graph.items()
        }

    # -- running -------------------------------------------------------------------------

    def release_due(self, now: datetime, pool: ThreadPoolExecutor) -> list[Future[ReleaseOutcome]]:
        """Claim every due release in one batch, then run the claims this process won.

        Several ticks of one workflow due at once (catch-up after downtime) run one after
        another, oldest first, so they finish in logical-date order."""
        in_order: dict[str, list[tuple[Workflow, ReleaseRecord, dict[str, Any]]]] = {}
        self.read_pauses(now)
        for claim in self.claim(self.unpaused(self.due(now))):
            in_order.setdefault(claim[0].name, []).append(claim)
        return [
            pool.submit(self._run_one, *claims[0])
            if len(claims) == 1
            else pool.submit(self._run_in_order, claims)
            for claims in in_order.values()
        ]

    def _run_in_order(self, claims: list[tuple[Workflow, ReleaseRecord, dict[str, Any]]]) -> ReleaseOutcome:
        """Run one workflow's caught-up ticks in turn (each is recorded; once the scheduler is
        stopped, the rest run cancelled and are recorded CANCEL)."""
        outcomes = [self._run_one(*claim) for claim in sorted(claims, key=lambda c: c[1].release)]
        return outcomes[-1]

    def claim(
        self, due: list[tuple[Entry, datetime]]
    ) -> list[tuple[Workflow, ReleaseRecord, dict[str, Any]]]:
        """Claim ``due`` releases in one batch; the won claims, ready to run.

        A (workflow, tick) due from two entries (two cron lines that meet, or a Schedule and the
        workflow's own ``on:``) is claimed once. A release that cannot start (its template does
        not validate, its params do not render) is claimed and recorded FAILED with the error.
        """
        prepared: list[tuple[Workflow | None, ReleaseRecord, dict[str, Any], RunwrightError | None]] = []
        groups: dict[tuple[str, datetime], list[tuple[Entry, datetime]]] = {}
        for entry, tick in due:
            if entry.workflow in self.templates:
                groups.setdefault((entry.workflow, tick.astimezone(UTC)), []).append((entry, tick))
        for group in groups.values():
            self._say_shared_tick(group)
            template = self.templates[group[0][0].workflow]
            errors: list[RunwrightError] = []
            for entry, tick in group:  # the first entry whose params render is released
                try:
                    workflow = template.build(self.runtime)
                    params = render_with_deadline(entry.params, tick, workflow)
                except TemplateError as exc:  # the template itself: every entry fails the same way
                    errors = [exc]
                    break
                except RunwrightError as exc:
                    log.error("params of %s at %s: %s", template.name, tick, exc)
                    errors.append(exc)
                    continue
                prepared.append(
                    (workflow, new_record(workflow, tick, ReleaseType.SCHEDULED, params), params, None)
                )
                errors = []
                break
            if errors:
                tick = group[0][1]
                prepared.append((None, new_record(template, tick, ReleaseType.SCHEDULED, {}), {}, errors[0]))
        won = self.audit.claim_many([record for _, record, _, _ in prepared])
        claims = []
        for (workflow, record, params, error), claimed in zip(prepared, won, strict=True):
            key = (record.workflow, record.release.astimezone(UTC))
            if not claimed:
                if key in self._claimed:
                    log.debug("%s @ %s: already released by this scheduler", record.workflow, record.release)
                else:
                    log.info("%s @ %s was released by another process", record.workflow, record.release)
                continue
            self._remember_claim(key)
            if error is not None or workflow is None:
                when = record.release.isoformat()
                log.error("release of %s @ %s FAILED before it started: %s", record.workflow, when, error)
                outcome = record_failed_release(
                    self.audit, record, error or RunwrightError("?"), claimed=True
                )
                self._keep([outcome])
                continue
            claims.append((workflow, record, params))
        return claims

    def _say_shared_tick(self, group: list[tuple[Entry, datetime]]) -> None:
        """Two entries of one workflow due at one tick release it once; said once per pair."""
        if len(group) < 2:
            return
        keys = tuple(entry.key for entry, _ in group)
        if keys in self._shared_said:
            return
        self._shared_said.add(keys)
        log.info(
            "%s @ %s is due from %d entries (%s): released once, with the params of the first "
            "that render (said once for these entries)",
            group[0][0].workflow,
            group[0][1].isoformat(),
            len(group),
            "; ".join(keys),
        )

    def _remember_claim(self, key: tuple[str, datetime]) -> None:
        """Keep the latest claims of this process (bounded), so a claim it lost to itself is
        never reported as another process's."""
        self._claimed[key] = None
        if len(self._claimed) > MAX_REMEMBERED_CLAIMS:
            for old in list(self._claimed)[: MAX_REMEMBERED_CLAIMS // 2]:
                del self._claimed[old]

    def _run_one(self, workflow: Workflow, record: ReleaseRecord, params: dict[str, Any]) -> ReleaseOutcome:
        try:
            outcome = (self.runner or run_claimed)(
                workflow,
                record,
                params,
                self.audit,
                None,
                self.heartbeat_seconds,
                {"scope": self._scope},
            )
        except Exception as exc:  # one bad release never stops the scheduler
            log.exception("release of %s at %s failed: %s", workflow.name, record.release, exc)
            outcome = ReleaseOutcome(workflow.name, record.release, False, "FAILED", reason=str(exc))
        self._keep([outcome])
        self._release_followers(outcome)
        return outcome

    def _release_followers(self, outcome: ReleaseOutcome) -> None:
        """``on: release``: each workflow that follows this one gets a release of the same date."""
        try:
            followers = release_followers(
                outcome.workflow,
                outcome.status,
                outcome.run_id,
                outcome.logical_date,
                self.workflows,
                self.unpaused_followers(),
                audit=self.audit,
                mode=ReleaseMode.NORMAL,
                release_type=ReleaseType.SCHEDULED,
                run_options={"scope": self._scope},
                runner=self.runner,
                traceparent=outcome.result.traceparent if outcome.result is not None else None,
            )
        except Exception as exc:  # one bad follower never stops the scheduler
            log.exception("releasing the followers of %s failed: %s", outcome.workflow, exc)
            return
        self._keep(followers)

    def _keep(self, outcomes: list[ReleaseOutcome]) -> None:
        """Remember releases for :meth:`run`'s answer and tell the listeners (e.g. a server's
        metrics); a listener that fails never stops the scheduler."""
        with self._lock:
            self.outcomes.extend(outcomes)
        for outcome in outcomes:
            for listener in self.outcome_listeners:
                try:
                    listener(outcome)
                except Exception:
                    log.exception("an outcome listener failed on %s", outcome.workflow)

    def run(self, until: datetime | None = None) -> list[ReleaseOutcome]:
        """Release ticks until ``until`` (or until stopped). Returns every release made, or,
        without ``until``, the last :data:`MAX_KEPT_OUTCOMES`: a scheduler that runs for months
        must not hold every run's context in memory."""
        from runwright.engine.context import CancelScope

        if until is None:
            with self._lock:
                self.outcomes = deque(self.outcomes, maxlen=MAX_KEPT_OUTCOMES)

        self._scope = CancelScope()
        self.start()
        pending: list[Future[ReleaseOutcome]] = []
        with ThreadPoolExecutor(self.max_workers, thread_name_prefix="runwright-release") as pool:
            try:
                while not self.stop_event.is_set():
                    pending = self._wait_for_a_free_worker(pending)
                    now = self.clock.now()
                    pending += self.release_due(now, pool)
                    if until is not None and now >= until:
                        break
                    minute = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
                    target = min(t for t in (self.next_wake(), until, minute) if t is not None)
                    self.warm_up(target)
                    if self.clock.sleep_until(target, self.stop_event):
                        break
                    self.reload_if_changed()
            finally:
                self._shutdown(pending)
        return list(self.outcomes)

    def _wait_for_a_free_worker(self, pending: list[Future[ReleaseOutcome]]) -> list[Future[ReleaseOutcome]]:
        """The releases still running, once fewer than ``max_workers`` are (or on stop).

        A tick's releases are claimed when a worker can start them: a claim never waits in a
        queue without a heartbeat, and releases the workers cannot keep up with are not
        claimed ahead of them without bound (a simulated clock moves at the pace of its runs;
        on the system clock a late tick is claimed when a worker frees, as it would have
        started then anyway)."""
        pending = [future for future in pending if not future.done()]
        while len(pending) >= self.max_workers and not self.stop_event.is_set():
            _, still = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            pending = list(still)
        return pending

    def start(self) -> None:
        """What ``run`` does before its first tick: load, recover crashed releases, and say
        what was loaded, what was skipped and why, and when the next tick is."""
        self.load(report=False)
        self.read_pauses(self.clock.now())
        self.recover()
        for level, line in self.summary():
            log.log(level, "%s", line)

    def summary(self) -> list[tuple[int, str]]:
        """(log level, line): what was loaded and from where, what was skipped, the next tick."""
        workflows, schedules = (
            plural(len(self.templates), "workflow"),
            plural(self.schedule_count, "schedule"),
        )
        entries = plural(len(self.entries), "schedule entry", "schedule entries")
        lines = [
            (
                logging.INFO,
                f"loaded {workflows} and {schedules} ({entries}) from {self.conf_path}; "
                f"audit store {without_password(self.audit.url)}",
            )
        ]
        paused = sorted(self.paused & set(self.templates))
        if paused:
            shown = ", ".join(paused[:5]) + (f" and {len(paused) - 5:,} more" if len(paused) > 5 else "")
            lines.append((logging.INFO, f"paused (no ticks released until unpaused): {shown}"))
        if self.skipped:
            lines.append((logging.ERROR, f"left out ({len(self.skipped):,}):"))
            lines += [(logging.ERROR, "  " + message.replace("\n", "\n  ")) for message in self.skipped]
        with self._lock:
            first = self._heap[0] if self._heap else None
            same = sorted(due for due in self._heap if first is not None and due.instant == first.instant)
        if first is None:
            lines.append((logging.INFO, "no cron ticks to wait for"))
            return lines
        shown: dict[str, str] = {}
        for due in same:
            entry = self.entries.get(due.key)
            if entry is not None and entry.workflow not in shown:
                local = (
                    ""
                    if entry.event.timezone == "UTC"
                    else f" ({due.when.isoformat()} {entry.event.timezone})"
                )
                shown[entry.workflow] = entry.workflow + local
        names = [shown[name] for name in sorted(shown)]
        listed = ", ".join(names[:3]) + (f" and {len(names) - 3:,} more" if len(names) > 3 else "")
        lines.append((logging.INFO, f"next tick at {first.instant.isoformat()} UTC: {listed}"))
        return lines

    def warm_up(self, deadline: datetime) -> None:
        """Validate the workflows not built yet while there is time before ``deadline`` (the
        next wake-up): a broken template is named long before its tick, and a tick does not
        wait for models to be built. The static checks every run starts with run here too."""
        from runwright.check import check_before_run

        if self._warm:
            return
        for template in list(self.templates.values()):
            if template.built:
                continue
            if self.stop_event.is_set() or self.clock.now() >= deadline - WARM_UP_MARGIN:
                return
            try:
                check_before_run(template.build(self.runtime), self.runtime)
            except RunwrightError as exc:
                log.error("each release of this template will fail: %s", exc)
            except Exception:  # a template never stops the scheduler; its releases say why
                log.exception("checking template '%s' failed", template.name)
        self._warm = True

    def stop(self) -> None:
        self.stop_event.set()

    def _shutdown(self, pending: list[Future[ReleaseOutcome]]) -> None:
        """Wait for running releases; once stopped, give them ``grace_seconds`` to finish,
        then cancel them (their records say CANCEL)."""
        deadline: float | None = None
        while pending:
            _, still = wait(pending, timeout=0.2)
            pending = list(still)
            if not pending:
                return
            if self.stop_event.is_set():
                deadline = deadline or time.monotonic() + self.grace_seconds
                if time.monotonic() >= deadline:
                    self._scope.cancel("scheduler stopped")
                    wait(pending, timeout=SHUTDOWN_GRACE_SECONDS)
                    return

    _scope: Any = None


def plural(count: int, one: str, many: str | None = None) -> str:
    return f"{count:,} {one if count == 1 else many or one + 's'}"


def without_password(url: str) -> str:
    """An audit store URL fit to print: ``postgresql://user:***@host/db``."""
    return re.sub(r"(//[^/:@]*:)[^/@]*@", r"\1***@", url)


def render_with_deadline(params: dict[str, Any], tick: datetime, workflow: Workflow) -> dict[str, Any]:
    """A Schedule's params, rendered on their own daemon thread with a deadline
    (``RUNWRIGHT_PARAMS_DEADLINE_SECONDS``): one slow expression costs its release, never the
    scheduler loop (a thread cannot be killed; a stuck one is left to finish on its own)."""
    if not any(has_expression(value) or isinstance(value, dict | list) for value in params.values()):
        return release_params(params, tick, ReleaseType.SCHEDULED, workflow)
    deadline = Limits.from_env().params_deadline_seconds
    outcome: dict[str, Any] = {}

    def render() -> None:
        try:
            outcome["params"] = release_params(params, tick, ReleaseType.SCHEDULED, workflow)
        except BaseException as exc:  # handed to the scheduler thread below
            outcome["error"] = exc

    worker = threading.Thread(target=render, name=f"runwright-params-{workflow.name}", daemon=True)
    worker.start()
    worker.join(deadline)
    if worker.is_alive():
        raise RunwrightError(
            f"params did not render within {deadline:g} s (RUNWRIGHT_PARAMS_DEADLINE_SECONDS)"
        )
    if "error" in outcome:
        raise outcome["error"]
    return outcome["params"]
