"""``runwright scheduler`` and ``runwright backfill``."""

from __future__ import annotations

import logging
import signal
from datetime import datetime
from pathlib import Path
from typing import Any

import typer

from runwright.cli.app import EXIT_FAILED, app, fail_usage
from runwright.cli.run import CONF_OPTION, parse_params
from runwright.errors import RunwrightError


def parse_when(text: str, what: str) -> datetime:
    from datetime import UTC

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


@app.command()
def backfill(
    name: str = typer.Argument(..., help="The workflow to backfill."),
    start: str = typer.Option(..., "--start", help="First logical date (ISO)."),
    end: str = typer.Option(..., "--end", help="Last logical date (ISO), inclusive."),
    param: list[str] = typer.Option([], "--param", "-p", help="A param as KEY=VALUE."),
    conf: Path | None = CONF_OPTION,
) -> None:
    """Release every tick in [start, end] that has no SUCCESS record yet, oldest first."""
    from datetime import UTC, timedelta

    from runwright.audit import ReleaseStatus, ReleaseType, make_audit_backend
    from runwright.models.workflow import Workflow
    from runwright.schedule.cron import ticks_between
    from runwright.schedule.release import ReleaseMode

    try:
        workflow = Workflow.from_conf(name, conf)
        if not workflow.on:
            raise fail_usage(f"workflow '{name}' has no 'on:' schedule to backfill")
        audit = make_audit_backend(pm=workflow.runtime.pm)
        first, last = parse_when(start, "--start"), parse_when(end, "--end")
        by_instant = {  # keyed by the UTC instant: both 01:30s of a clocks-back night are kept
            t.astimezone(UTC): t
            for e in workflow.on
            for t in ticks_between(e, first - timedelta(microseconds=1), last)
        }
        ticks = [by_instant[instant] for instant in sorted(by_instant)]
        params = parse_params(param)
        failed = 0
        for tick in ticks:
            attempts = audit.attempts(name, tick)
            if any(a.status is ReleaseStatus.SUCCESS for a in attempts):
                typer.echo(f"{tick.isoformat()}: already SUCCESS, skipped")
                continue
            outcome = workflow.release(
                tick,
                params,
                mode=ReleaseMode.RETRY,  # a new attempt unless one is RUNNING or SUCCESS: atomic
                release_type=ReleaseType.BACKFILL,
                audit=audit,
            )
            if not outcome.ran:
                typer.echo(f"{tick.isoformat()}: {outcome.reason}, skipped")
                continue
            failed += outcome.status != "SUCCESS"
            typer.echo(f"{tick.isoformat()}: {outcome.status} (run {outcome.run_id})")
    except RunwrightError as exc:
        raise fail_usage(str(exc)) from None
    if failed:
        raise typer.Exit(EXIT_FAILED)
