"""``runwright logs`` and ``runwright rerun``: look back at a run, and finish a failed one."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from runwright.cli.app import EXIT_FAILED, EXIT_USAGE, app, fail_usage
from runwright.cli.progress import Progress
from runwright.cli.run import CONF_OPTION, emit_result, parse_params
from runwright.config import Settings
from runwright.engine.result import Status
from runwright.engine.runner import load_snapshot
from runwright.errors import RunwrightError
from runwright.models.workflow import Workflow
from runwright.trace import format_event, read_trace


@app.command()
def logs(
    run_id: str = typer.Argument(..., help="The run's id."),
    as_json: bool = typer.Option(False, "--json", help="Print the raw JSON lines."),
) -> None:
    """Print a run's trace readably (stdout/stderr of stages included, secrets masked)."""
    path = Settings.from_env().log_path / f"{run_id}.jsonl"
    if not path.is_file():
        typer.echo(f"error: no trace for run '{run_id}' at {path}", err=True)
        raise typer.Exit(EXIT_USAGE)
    for record in read_trace(path):
        typer.echo(json.dumps(record) if as_json else format_event(record))


@app.command()
def rerun(
    run_id: str = typer.Argument(..., help="The earlier run to finish."),
    param: list[str] = typer.Option([], "--param", "-p", help="Change a param (KEY=VALUE)."),
    conf: Path | None = CONF_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document on stdout."),
) -> None:
    """Run only what failed, was cancelled or never ran in RUN_ID; reuse what succeeded."""
    settings = Settings.from_env()
    try:
        snapshot = load_snapshot(run_id, settings.log_path)
        params = dict(snapshot["context"]["params"])
        params.update(parse_params(param))
        conf_path = conf or (Path(snapshot["conf_path"]) if snapshot.get("conf_path") else None)
        workflow = Workflow.from_conf(snapshot["workflow"], conf_path)
        with Progress(enabled=not as_json) as observer:
            result = workflow.execute(
                params,
                parent_run_id=run_id,
                previous=snapshot["context"]["jobs"],
                observer=observer,
            )
    except RunwrightError as exc:
        raise fail_usage(str(exc)) from None
    emit_result(result, as_json)
    if result.status not in (Status.SUCCESS, Status.SKIP):
        raise typer.Exit(EXIT_FAILED)
