"""``runwright audit list``, ``audit show`` and ``audit migrate``."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from click.exceptions import Exit

from runwright.cli.app import EXIT_USAGE, app, fail_usage
from runwright.cli.options import Bounded, json_option, store_conf_option
from runwright.errors import RunwrightError

F = TypeVar("F", bound=Callable[..., Any])

if TYPE_CHECKING:
    from runwright.audit import RunQuery


@app.group("audit", no_args_is_help=True)
def audit_app() -> None:
    """Look at release records in the audit store."""


def parse_since(text: str, option: str = "--since") -> datetime:
    """``--since``: an ISO datetime, an ISO duration back from now (``PT6H``, ``P2D``), or
    ``today``/``yesterday`` (local midnight). A datetime without an offset is UTC."""
    from runwright.schedule.scheduler import parse_duration

    word = text.strip().lower()
    if word in ("today", "yesterday"):
        day = date.today() - timedelta(days=1 if word == "yesterday" else 0)
        return datetime.combine(day, time()).astimezone()
    if word.startswith("p"):
        try:
            return datetime.now().astimezone() - parse_duration(text.strip().upper())
        except RunwrightError:
            pass
    else:
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            pass
        else:
            return value if value.tzinfo else value.replace(tzinfo=UTC)
    raise fail_usage(
        f"{option}: expected an ISO datetime (2024-05-01T06:00), an ISO duration back from now "
        f"(PT6H, P2D), 'today' or 'yesterday'; got '{text}'"
    )


# -- the runs list's filters (issue 26), shared by `audit list` and `runs` ----------------------


def run_filter_options(command: F) -> F:
    """``--status``, ``--since``, ``--until``, ``--tag``, ``--label``/``-l`` and ``--text``/``-q``:
    the runs list's filters, the same for ``runs`` and ``audit list``."""
    for option in reversed(
        [
            click.option(
                "--status", metavar="STATUS", help="QUEUED, RUNNING, SUCCESS, FAILED, SKIP, CANCEL, CRASHED."
            ),
            click.option(
                "--since",
                metavar="WHEN",
                help=(
                    "Started at or after: an ISO datetime, a duration back from now (PT6H), "
                    "today or yesterday."
                ),
            ),
            click.option("--until", metavar="WHEN", help="Started before: the same forms as --since."),
            click.option(
                "--tag",
                multiple=True,
                metavar="TAG",
                help="Only runs whose workflow had this tag (repeatable: all of them).",
            ),
            click.option(
                "--label",
                "-l",
                multiple=True,
                metavar="KEY=VALUE",
                help="Only runs with this KEY=VALUE label (repeatable: all of them).",
            ),
            click.option(
                "--text",
                "-q",
                metavar="TEXT",
                help="Only runs with this text in their run id, params or errors.",
            ),
        ]
    ):
        command = option(command)
    return command


def run_query_from_options(
    workflow: str | None,
    status: str | None,
    tags: tuple[str, ...] | list[str],
    labels: tuple[str, ...] | list[str],
    text: str | None,
    since: str | None,
    until: str | None,
) -> RunQuery:
    """The store query of the command line's filters; a bad one is a usage error naming it."""
    from runwright.audit import ReleaseStatus, RunQuery
    from runwright.models.labels import label_filter

    try:
        wanted = ReleaseStatus(status.upper()) if status else None
    except ValueError:
        known = ", ".join(s.value for s in ReleaseStatus)
        raise fail_usage(f"--status: unknown status '{status}' (one of {known})") from None
    try:
        pairs = [label_filter(pair) for pair in labels]
    except RunwrightError as exc:
        raise fail_usage(f"--label: {exc}") from None
    try:
        return RunQuery(
            workflow=workflow,
            status=wanted,
            started_from=parse_since(since) if since else None,
            started_to=parse_since(until, "--until") if until else None,
            tags=tuple(tags),
            labels=tuple(pairs),
            text=text or None,
        )
    except ValueError as exc:
        raise fail_usage(f"runs filter: {exc}") from None


@audit_app.command("list")
@click.argument("name", required=False, help="Only this workflow.")
@run_filter_options
@click.option("--limit", metavar="N", type=Bounded(min=1), default=50, help="How many records, newest first.")
@json_option("Print one JSON list.")
@store_conf_option
def list_records(
    name: str | None,
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
    """Release records, newest first."""
    from runwright.audit import make_audit_backend, mark_dead_crashed

    query = run_query_from_options(name, status, tag, label, text, since, until)
    try:
        backend = make_audit_backend(conf_path=conf)
        records = backend.find(query, limit)
        records = mark_dead_crashed(backend, records)  # a killed run does not stay RUNNING
        if query.status is not None:
            records = [r for r in records if r.status is query.status]
    except RunwrightError as exc:
        raise fail_usage(str(exc)) from None
    if not records:  # a store read from the wrong place looks empty: say which store was read
        click.echo(f"no release records in {backend.url}", err=True)
    if as_json:
        click.echo(json.dumps([r.model_dump(mode="json") for r in records], indent=2))
        return
    for r in records:
        ended = r.ended.isoformat(timespec="seconds") if r.ended else "-"
        took = f"{(r.ended - r.started).total_seconds():.1f}s" if r.ended else "running"
        marks = [*r.tags, *(f"{key}={value}" for key, value in r.labels.items())]
        click.echo(
            f"{r.run_id}  {r.workflow}  logical {r.release.isoformat()}  #{r.attempt}  "
            f"{r.how_started:<9} {r.status.value:<8} took {took:<8} ended {ended}"
            + (f"  {','.join(marks)}" if marks else "")
        )


@audit_app.command("show")
@click.argument("run_id", help="The run id.")
@store_conf_option
def show(run_id: str, conf: Path | None) -> None:
    """One release record as JSON (secrets masked)."""
    from runwright.audit import make_audit_backend, mark_dead_crashed

    try:
        backend = make_audit_backend(conf_path=conf)
        record = backend.get(run_id)
        if record is not None:
            [record] = mark_dead_crashed(backend, [record])
    except RunwrightError as exc:
        raise fail_usage(str(exc)) from None
    if record is None:
        click.echo(f"error: no release record with run id '{run_id}'", err=True)
        raise Exit(EXIT_USAGE)
    click.echo(record.model_dump_json(indent=2))


@audit_app.command("migrate")
@store_conf_option
def migrate(conf: Path | None) -> None:
    """Bring the audit store's schema up to date (stores with numbered migrations, e.g. PostgreSQL).

    Safe to run from several hosts at once and again later: applied steps are not repeated.
    """
    from runwright.audit import make_audit_backend

    try:
        backend = make_audit_backend(conf_path=conf)
        step = getattr(backend, "migrate", None)
        if step is None:
            click.echo(f"{backend.url}: this store has no schema migrations; nothing to do")
            return
        applied = step()
    except RunwrightError as exc:
        raise fail_usage(str(exc)) from None
    done = ", ".join(str(version) for version in applied) if applied else "none (already up to date)"
    click.echo(f"{backend.url}: migrations applied: {done}")
