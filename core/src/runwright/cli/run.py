"""``runwright run``: run one workflow and show its result."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from runwright.cli.app import EXIT_FAILED, app, fail_usage
from runwright.cli.progress import Progress
from runwright.engine.result import Result, Status
from runwright.errors import RunwrightError
from runwright.masking import mask
from runwright.models.workflow import Workflow

CONF_OPTION = typer.Option(
    None, "--conf", "-c", help="Conf path (default: $RUNWRIGHT_CONF or ./conf)."
)


def parse_params(pairs: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for pair in pairs:
        if "=" not in pair:
            raise fail_usage(f"-p expects KEY=VALUE, got '{pair}'")
        key, value = pair.split("=", 1)
        params[key.strip()] = value
    return params


@app.command()
def run(
    name: str = typer.Argument(..., help="The workflow template's name."),
    param: list[str] = typer.Option([], "--param", "-p", help="A param as KEY=VALUE (repeatable)."),
    conf: Path | None = CONF_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document on stdout."),
) -> None:
    """Run a workflow. Exit 0 on success, 1 when the run failed, 2 on bad input."""
    params = parse_params(param)
    try:
        workflow = Workflow.from_conf(name, conf)
        with Progress(enabled=not as_json) as observer:
            result = workflow.execute(params, observer=observer)
    except RunwrightError as exc:
        raise fail_usage(str(exc)) from None
    emit_result(result, as_json)
    if result.status not in (Status.SUCCESS, Status.SKIP):
        raise typer.Exit(EXIT_FAILED)


def emit_result(result: Result, as_json: bool) -> None:
    if as_json:
        document = result.to_dict()
        keys = ("run_id", "status", "context", "errors")
        typer.echo(json.dumps({k: document[k] for k in keys}, indent=2))
    else:
        show_result(result)


def show_result(result: Result) -> None:
    """A short human summary: one line per job and stage, then errors."""
    data = result.to_dict()
    typer.echo(f"run {data['run_id']} of {data['workflow']}: {data['status']}")
    for job_id, job in data["context"].get("jobs", {}).items():
        reason = f" ({job['reason']})" if job.get("reason") else ""
        typer.echo(f"  job {job_id}: {job['status']}{reason}")
        groups = {"": job.get("stages", {})}
        for sid, strategy in job.get("strategies", {}).items():
            groups[f"[{sid}] "] = strategy.get("stages", {})
        for prefix, stages in groups.items():
            for stage_id, stage in stages.items():
                outputs = stage.get("outputs")
                shown = f" {json.dumps(outputs, default=str)[:200]}" if outputs else ""
                typer.echo(f"    {prefix}{stage_id}: {stage['status']}{shown}")
    for error in mask(data["errors"]):
        where = "/".join(str(error[k]) for k in ("job", "stage") if error.get(k))
        typer.echo(f"  error {where}: {error['name']}: {error['message']}", err=True)
    if result.log_file:
        typer.echo(f"  trace: {result.log_file}")
