"""``runwright pause`` and ``runwright unpause``: stop and restart a workflow's scheduled releases."""

from __future__ import annotations

from pathlib import Path

import click

from runwright.cli.app import app, fail_usage
from runwright.cli.options import conf_option
from runwright.errors import RunwrightError


def paused_by() -> str:
    """Who pauses from this terminal: user@host."""
    import getpass
    import socket

    try:
        user = getpass.getuser()
    except Exception:  # no user name in the environment or the password database
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def check_workflow_name(name: str, conf: Path | None) -> Path:
    """The conf path, once ``name`` is a Workflow template in it (a typo must not pause nothing).
    A template that does not validate may be paused: it may be paused because it is broken."""
    from runwright.errors import WorkflowNotFound
    from runwright.loader import discover
    from runwright.spelling import closest
    from runwright.state import conf_path_or_default

    root = conf_path_or_default(conf)
    sources = discover(root, [])
    names = [n for n, source in sources.items() if source.raw.get("type") == "Workflow"]
    if name not in names:
        meant = closest(name, names)
        hint = f"; did you mean '{meant}'?" if meant else ""
        raise WorkflowNotFound(f"no workflow named '{name}' in '{root}'{hint}")
    return root


@app.command()
@click.argument("name", help="The workflow to pause.")
@conf_option
def pause(name: str, conf: Path | None) -> None:
    """Pause a workflow's schedule: no scheduler sharing the audit store releases its ticks."""
    from runwright.audit import make_audit_backend, utc_now

    try:
        root = check_workflow_name(name, conf)
        backend = make_audit_backend(conf_path=root)
        if not backend.pause(name, paused_by(), utc_now()):
            current = backend.paused().get(name)
            since = (
                f" by {current.by} at {current.paused_at.isoformat(timespec='seconds')}" if current else ""
            )
            click.echo(f"{name} was already paused{since}")
            return
    except RunwrightError as exc:
        raise fail_usage(str(exc)) from None
    click.echo(
        f"paused {name}: schedulers sharing {backend.url} release none of its ticks from their next "
        f"tick on (runs started by hand still run); `runwright unpause {name}` lifts it"
    )


@app.command()
@click.argument("name", help="The workflow to unpause.")
@conf_option
def unpause(name: str, conf: Path | None) -> None:
    """Unpause a workflow: its ticks are released again; missed ones follow its catch-up rule."""
    from runwright.audit import make_audit_backend

    try:
        root = check_workflow_name(name, conf)
        backend = make_audit_backend(conf_path=root)
        lifted = backend.unpause(name)
    except RunwrightError as exc:
        raise fail_usage(str(exc)) from None
    if not lifted:
        click.echo(f"{name} was not paused")
        return
    click.echo(
        f"unpaused {name}: the ticks it missed while paused run as its catch-up rule says "
        "(default: only the latest one)"
    )
