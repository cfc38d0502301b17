"""``runwright scheduler`` and ``runwright backfill``."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from click.exceptions import Exit

from runwright.cli.app import EXIT_FAILED, app, fail_usage
from runwright.cli.options import Bounded, conf_option, json_option, param_option
from runwright.cli.run import parse_params
from runwright.cli.signals import handling_signals
from runwright.errors import RunwrightError

if TYPE_CHECKING:
    from runwright.schedule.release import ReleaseOutcome


def parse_when(text: str, what: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise fail_usage(f"{what}: expected an ISO datetime, got '{text}'") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@app.command()
@conf_option
@click.option("--until", metavar="DATETIME", help="Stop at this ISO datetime.")
@click.option(
    "--simulate-from",
    metavar="DATETIME",
    help="Start a simulated clock here that jumps to each tick instead of sleeping (replays and tests).",
)
@click.option("--workers", type=int, metavar="N", default=4, help="Releases running at once.")
@click.option(
    "--heartbeat-seconds",
    "heartbeat",
    type=float,
    metavar="SECONDS",
    default=10.0,
    help="Heartbeat interval.",
)
@click.option(
    "--grace-seconds",
    "grace",
    type=float,
    metavar="SECONDS",
    default=30.0,
    help="On SIGINT/SIGTERM, how long running releases may finish.",
)
def scheduler(
    conf: Path | None,
    until: str | None,
    simulate_from: str | None,
    workers: int,
    heartbeat: float,
    grace: float,
) -> None:
    """Release every scheduled workflow and Schedule template at its ticks until stopped."""
    from runwright.heap import limit_malloc_arenas, restart_with_thread_cache
    from runwright.schedule.clock import SimulatedClock, SystemClock
    from runwright.schedule.scheduler import Scheduler

    restart_with_thread_cache()  # once, with glibc's per-thread caches off (runwright/heap.py)
    limit_malloc_arenas()  # before any thread: a scheduler runs for months (runwright/heap.py)
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    clock: Any = (
        SimulatedClock(parse_when(simulate_from, "--simulate-from")) if simulate_from else SystemClock()
    )
    try:
        runner = Scheduler(
            conf, clock=clock, max_workers=workers, heartbeat_seconds=heartbeat, grace_seconds=grace
        )
    except RunwrightError as exc:
        raise fail_usage(str(exc)) from None

    def stop(signum: int) -> None:
        logging.getLogger("runwright.scheduler").warning("received signal %s: stopping", signum)
        runner.stop()

    runner.outcome_listeners.append(ReleaseLines().say)
    try:
        with handling_signals(stop):
            runner.run(until=parse_when(until, "--until") if until else None)
    except RunwrightError as exc:
        raise fail_usage(str(exc)) from None


LOG_FORMAT = "%(asctime)s %(levelname)s %(message)s"
"""The scheduler's lines on stderr and stdout alike: systemd, Docker and Kubernetes read both."""


class ReleaseLines:
    """One stdout line per release, written (and flushed) when the release ends: a scheduler
    that runs for months shows each release in its log file or pipe as it happens, and keeps
    no list of them to print at exit. Each line has the same timestamp as the stderr lines."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # releases end on several threads: whole lines only
        self._formatter = logging.Formatter(LOG_FORMAT)

    def say(self, outcome: ReleaseOutcome) -> None:
        if not outcome.ran:
            return
        line = (
            f"{outcome.workflow} @ {outcome.logical_date.isoformat()}: "
            f"{outcome.status} (run {outcome.run_id}, attempt {outcome.attempt})"
        )
        record = logging.LogRecord("runwright.releases", logging.INFO, __file__, 0, line, None, None)
        with self._lock:
            click.echo(self._formatter.format(record))  # click flushes after each line


def in_zone(value: datetime, zone: tzinfo) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=zone)


def with_utc(tick: datetime) -> str:
    """``tick`` in its own zone, and in UTC where the two differ."""
    if tick.utcoffset() == timedelta(0):
        return tick.isoformat()
    return f"{tick.isoformat()} ({tick.astimezone(UTC).isoformat()} UTC)"


@app.command()
@click.argument("name", help="The workflow, or Schedule (each of its workflows), to backfill.")
@click.option(
    "--start",
    required=True,
    metavar="DATE",
    help="First logical date (ISO); without an offset, read in the schedule's timezone.",
)
@click.option(
    "--end",
    required=True,
    metavar="DATE",
    help="Last logical date (ISO), inclusive; a date alone is the whole day; no offset: as --start.",
)
@param_option("A param as KEY=VALUE.")
@conf_option
@click.option("--force", is_flag=True, help="A new attempt for every tick, even after a success.")
@click.option(
    "--only-failed",
    is_flag=True,
    help="A new attempt only where the last attempt FAILED, CRASHED or was cancelled.",
)
@click.option(
    "--dry-run", is_flag=True, help="Print each tick with its params and what would happen; run nothing."
)
@click.option(
    "--max-active",
    metavar="N",
    type=Bounded(min=1),
    default=1,
    help="Ticks running at once (in logical-date order).",
)
@json_option("Print the ticks as one JSON document.")
def backfill(
    name: str,
    start: str,
    end: str,
    param: tuple[str, ...],
    conf: Path | None,
    force: bool,
    only_failed: bool,
    dry_run: bool,
    max_active: int,
    as_json: bool,
) -> None:
    """Release every tick in [start, end], oldest first: each run gets its tick as logical date.

    By default a tick runs unless an attempt is RUNNING or SUCCESS. A Schedule releases each of
    its workflows at their ticks with the Schedule's params (``-p`` values win). Ticks print in
    the cron entry's timezone, with UTC beside where they differ. Ctrl-C cancels the running
    ticks (recorded CANCEL) and starts no more.
    """
    import json

    from runwright.audit import make_audit_backend
    from runwright.engine.context import CancelScope
    from runwright.loader import load_template
    from runwright.models.workflow import Workflow
    from runwright.runtime import Runtime
    from runwright.schedule.backfill import (
        backfill_targets,
        plan_backfill,
        read_window_end,
        read_window_start,
        render_plan,
        run_backfill,
    )

    try:
        runtime = Runtime.default()
        template = load_template(name, conf, runtime)
        targets = backfill_targets(template, lambda item: Workflow.from_conf(item, conf, runtime=runtime))
        is_schedule = not isinstance(template, Workflow)
        audit = make_audit_backend(pm=targets[0].workflow.runtime.pm, conf_path=targets[0].workflow.conf_path)
        first, last = read_window_start(start), read_window_end(end)
        naive_zones = sorted({e.timezone for t in targets for e in t.events if e.timezone != "UTC"})
        if (first.tzinfo is None or last.tzinfo is None) and naive_zones and not as_json:
            click.echo(f"naive --start/--end read in {', '.join(naive_zones)} (the cron timezone)")
        plan = plan_backfill(
            targets, first, last, audit, parse_params(param), force=force, only_failed=only_failed
        )
    except RunwrightError as exc:
        raise fail_usage(str(exc)) from None

    def label(item: Any) -> str:
        return f"{item.workflow.name} @ {with_utc(item.tick)}" if is_schedule else with_utc(item.tick)

    if dry_run:
        render_plan(plan)
        if as_json:
            click.echo(json.dumps({"dry_run": True, "ticks": [item.document() for item in plan]}, indent=2))
            return
        for item in plan:
            shown = json.dumps(item.document()["params"], default=str)
            click.echo(f"{label(item)}: would {item.action} ({item.reason}) params {shown}")
        return
    if not as_json:
        for item in plan:
            if item.action == "skip":
                click.echo(f"{label(item)}: {item.reason}, skipped")

    def said(item: Any) -> None:
        if as_json:
            return
        outcome = item.outcome
        if not outcome.ran:
            click.echo(f"{label(item)}: {outcome.reason}, skipped")
        else:
            click.echo(f"{label(item)}: {outcome.status} (run {outcome.run_id}, attempt {outcome.attempt})")

    scope = CancelScope()

    def interrupt(signum: int) -> None:
        click.echo(f"received signal {signum}: cancelling the running ticks, starting no more", err=True)
        scope.cancel(f"backfill interrupted by signal {signum}")

    try:
        with handling_signals(interrupt):
            done = run_backfill(plan, audit, max_active=max_active, scope=scope, on_done=said)
    except RunwrightError as exc:
        raise fail_usage(str(exc)) from None
    if as_json:
        click.echo(json.dumps({"ticks": [item.document() for item in plan]}, indent=2))
    left = sum(1 for item in plan if item.action != "skip") - len(done)
    if scope.cancelled:
        click.echo(f"interrupted: {left} tick(s) not started", err=True)
        raise Exit(EXIT_FAILED)
    if any(
        item.outcome is not None and item.outcome.ran and item.outcome.status != "SUCCESS" for item in done
    ):
        raise Exit(EXIT_FAILED)
