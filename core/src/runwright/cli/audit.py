"""``runwright audit list`` and ``runwright audit show``."""

from __future__ import annotations

import json

import typer

from runwright.cli.app import EXIT_USAGE, app, fail_usage
from runwright.errors import RunwrightError

audit_app = typer.Typer(help="Look at release records in the audit store.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("list")
def list_records(
    name: str | None = typer.Argument(None, help="Only this workflow."),
    status: str | None = typer.Option(None, "--status", help="RUNNING, SUCCESS, FAILED, CANCEL, CRASHED."),
    since: str | None = typer.Option(None, "--since", help="Started at or after (ISO)."),
    limit: int = typer.Option(50, "--limit"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Release records, newest first."""
    from runwright.audit import ReleaseStatus, make_audit_backend, mark_dead_crashed
    from runwright.cli.schedule import parse_when

    try:
        wanted = ReleaseStatus(status.upper()) if status else None
    except ValueError:
        raise fail_usage(f"--status: unknown status '{status}'") from None
    try:
        backend = make_audit_backend()
        records = backend.list(name, wanted, parse_when(since, "--since") if since else None, limit)
        records = mark_dead_crashed(backend, records)  # a killed run does not stay RUNNING
        if wanted is not None:
            records = [r for r in records if r.status is wanted]
    except RunwrightError as exc:
        raise fail_usage(str(exc)) from None
    if as_json:
        typer.echo(json.dumps([r.model_dump(mode="json") for r in records], indent=2))
        return
    for r in records:
        ended = r.ended.isoformat(timespec="seconds") if r.ended else "-"
        typer.echo(
            f"{r.run_id}  {r.workflow}  {r.release.isoformat()}  #{r.attempt}  "
            f"{r.type.value:<9} {r.status.value:<8} ended {ended}"
        )


@audit_app.command("show")
def show(run_id: str = typer.Argument(..., help="The run id.")) -> None:
    """One release record as JSON (secrets masked)."""
    from runwright.audit import make_audit_backend, mark_dead_crashed

    try:
        backend = make_audit_backend()
        record = backend.get(run_id)
        if record is not None:
            [record] = mark_dead_crashed(backend, [record])
    except RunwrightError as exc:
        raise fail_usage(str(exc)) from None
    if record is None:
        typer.echo(f"error: no release record with run id '{run_id}'", err=True)
        raise typer.Exit(EXIT_USAGE)
    typer.echo(record.model_dump_json(indent=2))
