"""``runwright logs`` and ``runwright rerun``: look back at a run, and finish a failed one."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from runwright.cli.app import EXIT_USAGE, app, fail_usage
from runwright.cli.run import CONF_OPTION, parse_params, release_and_report
from runwright.config import Settings
from runwright.errors import RunwrightError
from runwright.masking import mask
from runwright.models.workflow import Workflow
from runwright.trace import format_event, read_trace


@app.command()
def logs(
    run_id: str = typer.Argument(..., help="The run's id."),
    as_json: bool = typer.Option(False, "--json", help="Print the raw JSON lines."),
    conf: Path | None = CONF_OPTION,
) -> None:
    """Print a run's trace readably (stdout/stderr of stages included, secrets masked)."""
    settings = Settings.from_env()
    path = settings.log_dir_for(conf or settings.conf_path) / f"{run_id}.jsonl"
    if not path.is_file():
        typer.echo(f"error: no trace for run '{run_id}' at {path}", err=True)
        raise typer.Exit(EXIT_USAGE)
    for record in read_trace(path):
        record = mask(record)  # again: secrets known now, codes a trace written earlier kept
        typer.echo(json.dumps(record) if as_json else format_event(record))


@app.command()
def rerun(
    run_id: str = typer.Argument(..., help="The earlier run to finish."),
    param: list[str] = typer.Option([], "--param", "-p", help="Change a param (KEY=VALUE)."),
    conf: Path | None = CONF_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document on stdout."),
) -> None:
    """Run only what failed, was cancelled or never ran in RUN_ID; reuse what succeeded.

    Reads the run's record from the audit store; the rerun is a new attempt of the same
    release (type ``rerun``, parent run id = RUN_ID).
    """
    from runwright.audit import ReleaseType, make_audit_backend
    from runwright.schedule.release import replay_params

    try:
        audit = make_audit_backend(conf_path=conf)
        record = audit.get(run_id)
        if record is None:
            raise RunwrightError(f"no release record with run id '{run_id}' in {audit.url}")
        params = replay_params(record, parse_params(param))  # secrets read again, never '***'
        workflow = Workflow.from_conf(record.workflow, conf)
        params = workflow.parameterize(params)  # converted once: the run takes them as they are
    except RunwrightError as exc:
        raise fail_usage(str(exc)) from None
    release_and_report(
        workflow,
        record.release,
        params,
        as_json,
        release_type=ReleaseType.RERUN,
        audit=audit,
        parent_run_id=run_id,
        previous=record.context.get("jobs") or {},
    )
