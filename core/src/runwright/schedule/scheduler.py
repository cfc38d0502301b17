"""The scheduler: release every scheduled workflow at its cron ticks, exactly once per tick.

It keeps a heap of (next tick, entry), so one wake-up only looks at what is due. It sleeps
until the next due tick (never a busy loop), reloads templates whose files changed, marks
releases left RUNNING by a dead process as CRASHED (re-releasing them where the entry allows),
and stops cleanly: running releases finish, or are cancelled and recorded CANCEL.
"""

from __future__ import annotations

import heapq
import json
import logging
import re
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from runwright.audit import (
    AuditBackend,
    ReleaseRecord,
    ReleaseStatus,
    ReleaseType,
    crash_reason,
    make_audit_backend,
    utc_now,
)
from runwright.config import Limits, Settings
from runwright.errors import RunwrightError
from runwright.loader import BrokenConf, build_model, conf_files, discover
from runwright.models.events import CronEvent
from runwright.models.schedule import Schedule
from runwright.models.workflow import Workflow
from runwright.runtime import Runtime
from runwright.schedule.clock import Clock, SystemClock
from runwright.schedule.cron import next_tick, ticks_between
from runwright.schedule.release import (
    ReleaseMode,
    ReleaseOutcome,
    new_record,
    release,
    release_params,
    replay_params,
    run_claimed,
)
from runwright.schedule.release_triggers import followers_graph, release_followers, release_problems
from runwright.templating.engine import has_expression

log = logging.getLogger("runwright.scheduler")

DEFAULT_STOP_BOUNDARY = timedelta(minutes=5)
CRASHED_HEARTBEAT_AGE = timedelta(minutes=2)
SHUTDOWN_GRACE_SECONDS = 30.0


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
    ) -> None:
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
        self.workflows: dict[str, Workflow] = {}
        self.outcomes: list[ReleaseOutcome] = []
        self._heap: list[_Due] = []
        self._mtimes: dict[Path, float] = {}
        self._lock = threading.Lock()

    # -- templates ---------------------------------------------------------------------

    def load(self) -> None:
        """(Re)build the entries from the conf path; keep each entry's place in time."""
        broken: list[BrokenConf] = []
        sources = discover(self.conf_path, broken)  # a broken file never stops the others
        for problem in broken:
            log.error("skipping broken template file: %s", problem.message.splitlines()[0])
        workflows: dict[str, Workflow] = {}
        entries: dict[str, Entry] = {}
        schedules: list[Schedule] = []
        for name, source in sources.items():
            template_type = source.raw.get("type")
            if template_type == "Workflow":
                try:
                    workflow = build_model(source, self.runtime, Workflow)
                except RunwrightError as exc:
                    log.error("skipping invalid template: %s", exc)
                    continue
                workflow._conf_path = self.conf_path
                workflows[name] = workflow
            elif template_type == "Schedule":
                if self.only is not None and name not in self.only:
                    continue
                try:
                    schedules.append(build_model(source, self.runtime, Schedule))
                except RunwrightError as exc:
                    log.error("skipping invalid schedule: %s", exc)
        if self.only is None:
            for workflow in workflows.values():
                for event in workflow.on:
                    entry = Entry(workflow.name, event, {}, "workflow")
                    entries[entry.key] = entry
        for schedule in schedules:
            for item in schedule.workflows:
                if item.name not in workflows:
                    log.error("schedule %s names unknown workflow %s", schedule.name, item.name)
                    continue
                for event in item.on or workflows[item.name].on:
                    entry = Entry(item.name, event, item.params, f"schedule:{schedule.name}")
                    entries[entry.key] = entry
        for problem in release_problems(workflows):
            log.error("on.release: %s", problem)
        with self._lock:
            self.workflows = workflows
            self.release_graph = followers_graph(workflows)
            old = {due.key for due in self._heap}
            self.entries = entries
            self._heap = [due for due in self._heap if due.key in entries]
            heapq.heapify(self._heap)
            now = self.clock.now()
            for key, entry in entries.items():
                if key not in old:
                    self._push(entry, self._resume_point(entry, now))
        self._mtimes = self._snapshot_mtimes()

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

    def _resume_point(self, entry: Entry, now: datetime) -> datetime:
        """Where this entry's ticks start: after its latest released tick (catch-up), else now."""
        latest = self._latest_release(entry.workflow)
        if latest is None:
            return now
        missed = ticks_between(entry.event, latest, now)
        if not missed:
            return now
        window = entry.event.catchup
        if window is None:
            keep = missed[-1:]
        else:
            keep = [tick for tick in missed if tick >= now - window]
        for tick in missed:
            if tick not in keep:
                log.warning("skipping missed tick %s of %s (outside catch-up)", tick, entry.workflow)
        return keep[0] - timedelta(microseconds=1) if keep else now

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
        """Mark releases left RUNNING by a dead process CRASHED; re-release where allowed."""
        now = utc_now()
        retried: list[ReleaseOutcome] = []
        for record in self.audit.list(status=ReleaseStatus.RUNNING):
            why = crash_reason(record, now, self.crashed_after)
            if why is None or not self.audit.mark_crashed(record.run_id, why):
                continue
            log.warning("release %s of %s: %s", record.release, record.workflow, why)
            entry = next((e for e in self.entries.values() if e.workflow == record.workflow), None)
            workflow = self.workflows.get(record.workflow)
            if entry is not None and workflow is not None and entry.event.retry_crashed:
                try:
                    params = replay_params(record)
                except RunwrightError as exc:
                    log.error("cannot re-release %s of %s: %s", record.release, record.workflow, exc)
                    continue
                retried.append(
                    release(
                        workflow,
                        record.release,
                        params,
                        mode=ReleaseMode.RETRY,
                        release_type=record.type,
                        audit=self.audit,
                        parent_run_id=record.run_id,
                        heartbeat_seconds=self.heartbeat_seconds,
                        render_params=False,  # stored values are data
                    )
                )
        self.outcomes.extend(retried)
        return retried

    # -- running -------------------------------------------------------------------------

    def release_due(self, now: datetime, pool: ThreadPoolExecutor) -> list[Future[ReleaseOutcome]]:
        """Claim every due release in one batch, then run the claims this process won."""
        prepared = []
        for entry, tick in self.due(now):
            workflow = self.workflows.get(entry.workflow)
            if workflow is None:
                continue
            try:
                params = render_with_deadline(entry.params, tick, workflow)
            except RunwrightError as exc:
                log.error("params of %s at %s: %s", workflow.name, tick, exc)
                continue
            prepared.append((workflow, new_record(workflow, tick, ReleaseType.SCHEDULED, params), params))
        won = self.audit.claim_many([record for _, record, _ in prepared])
        futures = []
        for (workflow, record, params), claimed in zip(prepared, won, strict=True):
            if claimed:
                futures.append(pool.submit(self._run_one, workflow, record, params))
            else:
                log.info("%s @ %s was released by another process", workflow.name, record.release)
        return futures

    def _run_one(self, workflow: Workflow, record: ReleaseRecord, params: dict[str, Any]) -> ReleaseOutcome:
        try:
            outcome = run_claimed(
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
        with self._lock:
            self.outcomes.append(outcome)
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
                self.release_graph,
                audit=self.audit,
                mode=ReleaseMode.NORMAL,
                release_type=ReleaseType.SCHEDULED,
                run_options={"scope": self._scope},
            )
        except Exception as exc:  # one bad follower never stops the scheduler
            log.exception("releasing the followers of %s failed: %s", outcome.workflow, exc)
            return
        with self._lock:
            self.outcomes.extend(followers)

    def run(self, until: datetime | None = None) -> list[ReleaseOutcome]:
        """Release ticks until ``until`` (or until stopped). Returns every release made."""
        from runwright.engine.context import CancelScope

        self._scope = CancelScope()
        self.load()
        self.recover()
        pending: list[Future[ReleaseOutcome]] = []
        with ThreadPoolExecutor(self.max_workers, thread_name_prefix="runwright-release") as pool:
            try:
                while not self.stop_event.is_set():
                    now = self.clock.now()
                    pending = [f for f in pending if not f.done()]
                    pending += self.release_due(now, pool)
                    if until is not None and now >= until:
                        break
                    minute = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
                    target = min(t for t in (self.next_wake(), until, minute) if t is not None)
                    if self.clock.sleep_until(target, self.stop_event):
                        break
                    self.reload_if_changed()
            finally:
                self._shutdown(pending)
        return list(self.outcomes)

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

