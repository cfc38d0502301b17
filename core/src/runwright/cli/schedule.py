"""``runwright scheduler`` and ``runwright backfill``."""

from __future__ import annotations

import logging
import signal
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from runwright.cli.app import EXIT_FAILED, app, fail_usage
from runwright.cli.run import CONF_OPTION, parse_params
from runwright.errors import RunwrightError

if TYPE_CHECKING:
    from runwright.models.events import CronEvent
    from runwright.models.workflow import Workflow


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

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
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
        typer.echo(f"received signal {signum}: stopping", err=True)
        runner.stop()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        outcomes = runner.run(until=parse_when(until, "--until") if until else None)
    except RunwrightError as exc:
        raise fail_usage(str(exc)) from None
    for outcome in outcomes:
        if outcome.ran:
            typer.echo(
                f"{outcome.workflow} @ {outcome.logical_date.isoformat()}: "
                f"{outcome.status} (run {outcome.run_id}, attempt {outcome.attempt})"
            )


@dataclass
class BackfillTarget:
    """One workflow to backfill on some cron entries; ``template_params`` are a Schedule's."""

    workflow: Workflow
    events: list[CronEvent]
    template_params: dict[str, Any] | None = None


def backfill_targets(name: str, conf: Path | None) -> tuple[list[BackfillTarget], bool]:
    """The workflow ``name``, or each workflow of the Schedule ``name``; and whether a Schedule."""
    from runwright.loader import load_template
    from runwright.models.schedule import Schedule
    from runwright.models.workflow import Workflow
    from runwright.runtime import Runtime

    template = load_template(name, conf, Runtime.default())
    if isinstance(template, Workflow):
        if not template.on:
            raise fail_usage(f"workflow '{name}' has no 'on:' schedule to backfill")
        return [BackfillTarget(template, list(template.on))], False
    if not isinstance(template, Schedule):
        raise fail_usage(f"'{name}' is a {type(template).__name__}: backfill a Workflow or a Schedule")
    targets = []
    for item in template.workflows:
        workflow = Workflow.from_conf(item.name, conf, runtime=template._runtime)
        events = list(item.on or workflow.on)
        if not events:
            raise fail_usage(
                f"schedule '{name}': workflow '{item.name}' has no 'on:' here or in its template"
            )
        targets.append(BackfillTarget(workflow, events, dict(item.params)))
    return targets, True


def read_when(text: str, what: str) -> datetime:
    """An ISO datetime as typed: naive values stay naive (each cron entry's zone is applied)."""
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise fail_usage(f"{what}: expected an ISO datetime, got '{text}'") from None


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
        ..., "--end", help="Last logical date (ISO), inclusive; without an offset, as --start."
    ),
    param: list[str] = typer.Option([], "--param", "-p", help="A param as KEY=VALUE."),
    conf: Path | None = CONF_OPTION,
) -> None:
    """Release every tick in [start, end] that has no SUCCESS record yet, oldest first.

    A Schedule releases each of its workflows at their ticks with the Schedule's params (``-p``
    values win). Ticks print in the cron entry's timezone, with UTC beside where they differ.
    """
    from runwright.audit import ReleaseStatus, ReleaseType, make_audit_backend
    from runwright.schedule.cron import ticks_between
    from runwright.schedule.release import DataParams, ReleaseMode, release_params

    try:
        targets, is_schedule = backfill_targets(name, conf)
        audit = make_audit_backend(pm=targets[0].workflow.runtime.pm, conf_path=targets[0].workflow.conf_path)
        first, last = read_when(start, "--start"), read_when(end, "--end")
        naive_zones = sorted({e.timezone for t in targets for e in t.events if e.timezone != "UTC"})
        if (first.tzinfo is None or last.tzinfo is None) and naive_zones:
            typer.echo(f"naive --start/--end read in {', '.join(naive_zones)} (the cron timezone)")
        params = parse_params(param)
        failed = 0
        for target in targets:
            workflow = target.workflow
            by_instant = {  # keyed by the UTC instant: both 01:30s of a clocks-back night are kept
                t.astimezone(UTC): t
                for e in target.events
                for t in ticks_between(
                    e, in_zone(first, e.zone) - timedelta(microseconds=1), in_zone(last, e.zone)
                )
            }
            ticks = [by_instant[instant] for instant in sorted(by_instant)]
            label = f"{workflow.name} @ " if is_schedule else ""
            for tick in ticks:
                attempts = audit.attempts(workflow.name, tick)
                if any(a.status is ReleaseStatus.SUCCESS for a in attempts):
                    typer.echo(f"{label}{with_utc(tick)}: already SUCCESS, skipped")
                    continue
                if target.template_params is None:
                    given = params
                else:  # the Schedule's expressions are rendered; -p values stay as typed
                    rendered = release_params(target.template_params, tick, ReleaseType.BACKFILL, workflow)
                    given = DataParams({**rendered, **params})
                outcome = workflow.release(
                    tick,
                    given,
                    mode=ReleaseMode.RETRY,  # a new attempt unless one is RUNNING or SUCCESS: atomic
                    release_type=ReleaseType.BACKFILL,
                    audit=audit,
                    render_params=False,  # command-line and rendered values are data
                )
                if not outcome.ran:
                    typer.echo(f"{label}{with_utc(tick)}: {outcome.reason}, skipped")
                    continue
                failed += outcome.status != "SUCCESS"
                typer.echo(f"{label}{with_utc(tick)}: {outcome.status} (run {outcome.run_id})")
    except RunwrightError as exc:
        raise fail_usage(str(exc)) from None
    if failed:
        raise typer.Exit(EXIT_FAILED)
