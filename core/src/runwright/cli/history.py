"""``runwright runs``: recent runs as a table, with logical dates, durations and why they failed."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from runwright.cli.app import app, fail_usage
from runwright.cli.options import Bounded, json_option, store_conf_option
from runwright.errors import RunwrightError

if TYPE_CHECKING:
    from runwright.audit import ReleaseRecord

ERROR_CHARS = 80


@app.command("runs")
@click.option("--workflow", "-w", metavar="NAME", help="Only this workflow's runs.")
@click.option("--status", metavar="STATUS", help="RUNNING, SUCCESS, FAILED, CANCEL, CRASHED.")
@click.option(
    "--limit", metavar="N", type=Bounded(min=1, max=10_000), default=20, help="How many runs, newest first."
)
@json_option("Print one JSON list.")
@store_conf_option
def recent_runs(
    workflow: str | None, status: str | None, limit: int, as_json: bool, conf: Path | None
) -> None:
    """Recent runs, newest first: logical date, status, start, duration and the error that ended it."""
    from runwright.audit import ReleaseStatus, make_audit_backend, mark_dead_crashed, utc_now

    try:
        wanted = ReleaseStatus(status.upper()) if status else None
    except ValueError:
        known = ", ".join(s.value for s in ReleaseStatus)
        raise fail_usage(f"--status: unknown status '{status}' (one of {known})") from None
    try:
        backend = make_audit_backend(conf_path=conf)
        records = mark_dead_crashed(backend, backend.list(workflow, wanted, None, limit))
    except RunwrightError as exc:
        raise fail_usage(str(exc)) from None
    records = [r for r in records if wanted is None or r.status is wanted]
    now = utc_now()
    rows = [run_row(record, now) for record in records]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo(f"no runs in {backend.url}", err=True)
        return
    header = {
        "run_id": "RUN",
        "workflow": "WORKFLOW",
        "logical_date": "LOGICAL DATE",
        "type": "TYPE",
        "status": "STATUS",
        "started": "STARTED",
        "duration": "DURATION",
    }
    shown = [header, *({**row, "duration": duration_text(row)} for row in rows)]
    widths = {key: max(len(str(row[key])) for row in shown) for key in header}
    for row in shown:
        line = "  ".join(f"{str(row[key]):<{widths[key]}}" for key in header)
        error = row.get("error")
        click.echo(f"{line}  {error}".rstrip() if error else line.rstrip())


def run_row(record: ReleaseRecord, now: datetime) -> dict[str, Any]:
    """What the table shows of one run (also the ``--json`` form)."""
    end = record.ended or now
    last_error = record.errors[-1] if record.errors else None  # the one that ended the run
    error = f"{last_error.get('name')}: {last_error.get('message')}" if last_error else None
    if error and len(error) > ERROR_CHARS:
        error = error[: ERROR_CHARS - 1] + "…"
    return {
        "run_id": record.run_id,
        "workflow": record.workflow,
        "logical_date": record.release.isoformat(timespec="minutes"),
        "type": record.type.value,
        "attempt": record.attempt,
        "status": record.status.value,
        "started": record.started.astimezone().isoformat(timespec="seconds"),
        "seconds": round((end - record.started).total_seconds(), 3),
        "running": record.ended is None,
        "error": error,
    }


def duration_text(row: dict[str, Any]) -> str:
    seconds = row["seconds"]
    text = f"{seconds:.1f}s" if seconds < 120 else f"{int(seconds // 60)}m{int(seconds % 60):02d}s"
    return f"{text} so far" if row["running"] else text
