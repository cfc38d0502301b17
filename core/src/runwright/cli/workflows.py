"""``runwright list``: the workflows of a conf path, when each runs next and how it last ended."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from runwright.cli.app import app, fail_usage
from runwright.cli.options import conf_option, json_option
from runwright.errors import RunwrightError


@app.command("list")
@conf_option
@json_option("Print one JSON list.")
def list_workflows(conf: Path | None, as_json: bool) -> None:
    """List the workflows with their next tick, last run status and tags.

    A paused workflow (``runwright pause``) shows ``paused`` instead of its next tick."""
    from runwright.audit import make_audit_backend, utc_now
    from runwright.loader import BrokenConf, build_model, discover
    from runwright.models.workflow import Workflow
    from runwright.runtime import Runtime
    from runwright.schedule.cron import next_tick
    from runwright.state import conf_path_or_default

    runtime = Runtime.default()
    root = conf_path_or_default(conf)
    broken: list[BrokenConf] = []
    try:
        sources = discover(root, broken)
    except RunwrightError as exc:
        raise fail_usage(str(exc)) from None
    try:
        audit = make_audit_backend(pm=runtime.pm, conf_path=root)
    except RunwrightError:
        audit = None  # no store: nothing to say about last runs
    paused = audit.paused() if audit is not None else {}
    now = utc_now()
    rows: list[dict[str, Any]] = []
    for name, source in sorted(sources.items()):
        if source.raw.get("type") != "Workflow":
            continue
        row: dict[str, Any] = {"name": name, "next": None, "last": None, "tags": [], "problem": None}
        pause = paused.get(name)
        row["paused"] = {"by": pause.by, "since": pause.paused_at.isoformat()} if pause is not None else None
        try:
            workflow = build_model(source, runtime, Workflow, missing_env=[])  # listing needs no ${VAR}
        except RunwrightError as exc:
            row["problem"] = " ".join(line.strip() for line in str(exc).splitlines())
        else:
            ticks = [t for t in (next_tick(event, now) for event in workflow.on) if t is not None]
            row["next"] = min(ticks).isoformat() if ticks else None
            row["tags"] = list(workflow.tags)
        if audit is not None:
            last = audit.list(workflow=name, limit=1)
            row["last"] = last[0].status.value if last else None
        rows.append(row)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo(f"no workflows in {root}", err=True)
        return
    width = max(len(row["name"]) for row in rows)
    for row in rows:
        nxt = "paused" if row["paused"] else (_when(row["next"]) if row["next"] else "-")
        tags = ",".join(row["tags"]) or "-"
        status = "INVALID" if row["problem"] else (row["last"] or "-")
        click.echo(f"{row['name']:<{width}}  next {nxt:<25}  last {status:<8}  tags {tags}")
    for row in rows:
        if row["problem"]:
            click.echo(f"error: {row['name']}: {row['problem']}", err=True)


def _when(text: str) -> str:
    return datetime.fromisoformat(text).isoformat(timespec="minutes")
