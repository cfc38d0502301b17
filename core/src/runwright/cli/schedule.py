"""``runwright scheduler`` and ``runwright backfill``."""

from __future__ import annotations

import logging
import signal
import threading
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from runwright.cli.app import EXIT_FAILED, app, fail_usage
from runwright.cli.run import CONF_OPTION, parse_params
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
def scheduler(
    conf: Path | None = CONF_OPTION,
    until: str | None = typer.Option(None, "--until", help="Stop at this ISO datetime."),
    simulate_from: str | None = typer.Option(
        None,
        "--simulate-from",
        help="Start a simulated clock here that jumps to each tick instead of sleeping (replays and tests).",
    ),
    workers: int = typer.Option(4, "--workers", help="Releases running at once."),
    heartbeat: float = typer.Option(10.0, "--heartbeat-seconds", help="Heartbeat interval."),
    grace: float = typer.Option(
        30.0, "--grace-seconds", help="On SIGINT/SIGTERM, how long running releases may finish."
    ),
) -> None:
    """Release every scheduled workflow and Schedule template at its ticks until stopped."""
    from runwright.schedule.clock import SimulatedClock, SystemClock
    from runwright.schedule.scheduler import Scheduler

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

    def stop(signum: int, frame: Any) -> None:
        logging.getLogger("runwright.scheduler").warning("received signal %s: stopping", signum)
        runner.stop()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    runner.outcome_listeners.append(ReleaseLines().say)
    try:
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
            typer.echo(self._formatter.format(record))  # click flushes after each line


def in_zone(value: datetime, zone: tzinfo) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=zone)


def with_utc(tick: datetime) -> str:
    """``tick`` in its own zone, and in UTC where the two differ."""
    if tick.utcoffset() == timedelta(0):
        return tick.isoformat()
    return f"{tick.isoformat()} ({tick.astimezone(UTC).isoformat()} UTC)"


@app.command()
def backfill(
    name: str = typer.Argument(..., help="The workflow, or Schedule (each of its workflows), to backfill."),
    start: str = typer.Option(
        ..., "--start", help="First logical date (ISO); without an offset, read in the schedule's timezone."
    ),
    end: str = typer.Option(
        ...,
        "--end",
        help="Last logical date (ISO), inclusive; a date alone is the whole day; no offset: as --start.",
    ),
    param: list[str] = typer.Option([], "--param", "-p", help="A param as KEY=VALUE."),
    conf: Path | None = CONF_OPTION,
    force: bool = typer.Option(False, "--force", help="A new attempt for every tick, even after a success."),
    only_failed: bool = typer.Option(
        False,
        "--only-failed",
        help="A new attempt only where the last attempt FAILED, CRASHED or was cancelled.",
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print each tick with its params and what would happen; run nothing."
    ),
    max_active: int = typer.Option(
        1, "--max-active", min=1, help="Ticks running at once (in logical-date order)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the ticks as one JSON document."),
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
            typer.echo(f"naive --start/--end read in {', '.join(naive_zones)} (the cron timezone)")
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
            typer.echo(json.dumps({"dry_run": True, "ticks": [item.document() for item in plan]}, indent=2))
            return
        for item in plan:
            shown = json.dumps(item.document()["params"], default=str)
            typer.echo(f"{label(item)}: would {item.action} ({item.reason}) params {shown}")
        return
    if not as_json:
        for item in plan:
            if item.action == "skip":
                typer.echo(f"{label(item)}: {item.reason}, skipped")

    def said(item: Any) -> None:
        if as_json:
            return
        outcome = item.outcome
        if not outcome.ran:
            typer.echo(f"{label(item)}: {outcome.reason}, skipped")
        else:
            typer.echo(f"{label(item)}: {outcome.status} (run {outcome.run_id}, attempt {outcome.attempt})")

    scope = CancelScope()

    def interrupt(signum: int, frame: Any) -> None:
        typer.echo(f"received signal {signum}: cancelling the running ticks, starting no more", err=True)
        scope.cancel(f"backfill interrupted by signal {signum}")

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        done = run_backfill(plan, audit, max_active=max_active, scope=scope, on_done=said)
    except RunwrightError as exc:
        raise fail_usage(str(exc)) from None
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if as_json:
        typer.echo(json.dumps({"ticks": [item.document() for item in plan]}, indent=2))
    left = sum(1 for item in plan if item.action != "skip") - len(done)
    if scope.cancelled:
        typer.echo(f"interrupted: {left} tick(s) not started", err=True)
        raise typer.Exit(EXIT_FAILED)
    if any(
        item.outcome is not None and item.outcome.ran and item.outcome.status != "SUCCESS" for item in done
    ):
        raise typer.Exit(EXIT_FAILED)
