"""``runwright runs``: recent runs as a table, with logical dates, durations and why they failed."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from runwright.cli.app import app, fail_usage
from runwright.cli.audit import run_filter_options, run_query_from_options
from runwright.cli.options import Bounded, json_option, store_conf_option
from runwright.errors import RunwrightError

if TYPE_CHECKING:
    from runwright.audit import ReleaseRecord

ERROR_CHARS = 80


@app.command("runs")
@click.option("--workflow", "-w", metavar="NAME", help="Only this workflow's runs.")
@run_filter_options
@click.option(
    "--limit", metavar="N", type=Bounded(min=1, max=10_000), default=20, help="How many runs, newest first."
)
@json_option("Print one JSON list.")
@store_conf_option
def recent_runs(
    workflow: str | None,
    status: str | None,
    since: str | None,
    until: str | None,
    tag: tuple[str, ...],
    label: tuple[str, ...],
    text: str | None,
    limit: int,
    as_json: bool,
    conf: Path | None,
) -> None:
    """Recent runs, newest first: logical date, status, start, duration and the error that ended it."""
    from runwright.audit import ReleaseStatus, make_audit_backend, mark_dead_crashed, utc_now

    query = run_query_from_options(workflow, status, tag, label, text, since, until)
    try:
        backend = make_audit_backend(conf_path=conf)
        records = mark_dead_crashed(backend, backend.find(query, limit))
        paused = set(backend.paused())
    except RunwrightError as exc:
        raise fail_usage(str(exc)) from None
    records = [r for r in records if query.status is None or r.status is ReleaseStatus(query.status)]
    now = utc_now()
    rows = [{**run_row(record, now), "workflow_paused": record.workflow in paused} for record in records]
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
        "started_by": "BY",
        "status": "STATUS",
        "started": "STARTED",
        "duration": "DURATION",
        "marks": "TAGS/LABELS",
    }
    shown = [header, *(shown_row(row) for row in rows)]
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
        "started_by": record.how_started,
        "attempt": record.attempt,
        "status": record.status.value,
        "started": record.started.astimezone().isoformat(timespec="seconds"),
        "ended": record.ended.astimezone().isoformat(timespec="seconds") if record.ended else None,
        "seconds": round((end - record.started).total_seconds(), 3),
        "running": record.ended is None,
        "tags": list(record.tags),
        "labels": dict(record.labels),
        "error": error,
    }


def shown_row(row: dict[str, Any]) -> dict[str, Any]:
    """A row as the table prints it: a paused workflow says so, tags and labels in one column."""
    marks = [*row["tags"], *(f"{key}={value}" for key, value in row["labels"].items())]
    return {
        **row,
        "workflow": row["workflow"] + (" (paused)" if row.get("workflow_paused") else ""),
        "duration": duration_text(row),
        "marks": ",".join(marks) or "-",
    }


def duration_text(row: dict[str, Any]) -> str:
    seconds = row["seconds"]
    text = f"{seconds:.1f}s" if seconds < 120 else f"{int(seconds // 60)}m{int(seconds % 60):02d}s"
    return f"{text} so far" if row["running"] else text
