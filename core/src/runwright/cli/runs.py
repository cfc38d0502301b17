"""``runwright logs`` and ``runwright rerun``: look back at a run, and finish a failed one."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
from click.exceptions import Exit

from runwright.cli.app import EXIT_USAGE, app, fail_usage
from runwright.cli.options import Bounded, conf_option, json_option, param_option
from runwright.cli.run import parse_params, release_and_report
from runwright.errors import RunwrightError


@app.command()
@click.argument("run_id", required=False, help="The run's id (optional with --grep: then every run's).")
@json_option("Print the raw JSON lines.")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines until the run ends.")
@click.option(
    "--grep",
    "-g",
    metavar="PATTERN",
    help="Only lines holding every word of PATTERN (any case); without RUN_ID, every run's.",
)
@click.option("--workflow", "-w", metavar="NAME", help="With --grep: only this workflow's runs.")
@click.option("--since", metavar="WHEN", help="With --grep: lines from this time (ISO, PT6H, today).")
@click.option("--until", metavar="WHEN", help="With --grep: lines before this time.")
@click.option(
    "--limit",
    metavar="N",
    type=Bounded(min=1, max=10_000),
    default=100,
    help="With --grep: at most this many lines.",
)
@conf_option
def logs(
    run_id: str | None,
    as_json: bool,
    follow: bool,
    grep: str | None,
    workflow: str | None,
    since: str | None,
    until: str | None,
    limit: int,
    conf: Path | None,
) -> None:
    """Print a run's trace readably (stdout/stderr of stages included, secrets masked)."""
    from runwright.config import Settings
    from runwright.masking import mask
    from runwright.trace import checked_run_id, format_event, read_trace

    if grep is not None and run_id is None:
        search_logs(grep, workflow, since, until, limit, as_json, conf)
        return
    if run_id is None:
        raise fail_usage("logs: give a RUN_ID, or --grep PATTERN to search every run's lines")
    settings = Settings.from_env()
    path = settings.log_dir_for(conf or settings.conf_path) / f"{checked_run_id(run_id)}.jsonl"
    if not path.is_file():
        click.echo(f"error: no trace for run '{run_id}' at {path}", err=True)
        raise Exit(EXIT_USAGE)
    records = follow_trace(path, run_ended_elsewhere(run_id, conf)) if follow else read_trace(path)
    wanted = grep_filter(grep) if grep is not None else None
    try:
        for record in records:
            record = mask(record)  # again: secrets known now, codes a trace written earlier kept
            if wanted is not None and not wanted(record):
                continue
            click.echo(json.dumps(record) if as_json else format_event(record))
    except KeyboardInterrupt:
        raise Exit(130) from None


def grep_filter(pattern: str) -> Callable[[dict[str, Any]], bool]:
    """Whether a trace event holds every word of ``pattern``, as the stores' search decides."""
    from runwright.audit import check_search_text, line_matches, log_lines_from_trace

    try:
        words = check_search_text(pattern)
    except ValueError as exc:
        raise fail_usage(f"--grep: {exc}") from None

    def wanted(record: dict[str, Any]) -> bool:
        return any(line_matches(line, words, None, None, None) for line in log_lines_from_trace([record]))

    return wanted


def search_logs(
    pattern: str,
    workflow: str | None,
    since: str | None,
    until: str | None,
    limit: int,
    as_json: bool,
    conf: Path | None,
) -> None:
    """``logs --grep`` over every run: the audit store's search, newest line first; exit 1
    when no line matches (as grep does)."""
    from runwright.audit import make_audit_backend
    from runwright.cli.audit import parse_since
    from runwright.masking import mask
    from runwright.trace import format_event

    start = parse_since(since) if since else None
    end = parse_since(until, "--until") if until else None
    try:
        backend = make_audit_backend(conf_path=conf)
        found = backend.search_logs(pattern, workflow=workflow, since=start, until=end, limit=limit)
    except ValueError as exc:
        raise fail_usage(f"--grep: {exc}") from None
    except RunwrightError as exc:
        raise fail_usage(str(exc)) from None
    for line in found:
        record = {
            "time": line.time.timestamp(),
            "run_id": line.run_id,
            "workflow": line.workflow,
            "event": line.event,
            "message": line.message,
            **{k: v for k, v in (("job", line.job), ("strategy", line.strategy), ("stage", line.stage)) if v},
        }
        record = mask(record)
        click.echo(json.dumps(record) if as_json else f"{line.run_id} {format_event(record)}")
    if not found:
        click.echo("no lines match", err=True)
        raise Exit(1)


FOLLOW_POLL_SECONDS = 0.2
RECORD_CHECK_SECONDS = 2.0


def follow_trace(path: Path, ended: Callable[[], str | None]) -> Iterator[dict[str, Any]]:
    """The trace's events as they are written, until its ``run-end`` event; when the trace stops
    growing, ``ended()`` is asked (every 2 s) whether the run ended without one (a killed run
    recorded CRASHED), so following a dead run ends too."""
    idle_since = time.monotonic()
    with path.open(encoding="utf-8") as handle:
        while True:
            position = handle.tell()
            line = handle.readline()
            if line.endswith("\n"):
                idle_since = time.monotonic()
                if not line.strip():
                    continue
                record = json.loads(line)
                yield record
                if record.get("event") == "run-end":
                    return
                continue
            handle.seek(position)  # a line being written: read it whole next time
            if time.monotonic() - idle_since >= RECORD_CHECK_SECONDS:
                status = ended()
                if status is not None:
                    yield {
                        "time": time.time(),
                        "event": "run-end",
                        "message": f"the run ended {status} (recorded)",
                    }
                    return
                idle_since = time.monotonic()
            time.sleep(FOLLOW_POLL_SECONDS)


def run_ended_elsewhere(run_id: str, conf: Path | None) -> Callable[[], str | None]:
    """Whether the audit store says the run is over (None while RUNNING, or with no record)."""

    def ended() -> str | None:
        from runwright.audit import ACTIVE_STATUSES, make_audit_backend, mark_dead_crashed

        try:
            backend = make_audit_backend(conf_path=conf)
            record = backend.get(run_id)
            if record is None:
                return None
            [record] = mark_dead_crashed(backend, [record])
        except RunwrightError:
            return None
        return None if record.status in ACTIVE_STATUSES else record.status.value

    return ended


@app.command()
@click.argument("run_id", help="The earlier run to finish.")
@param_option("Change a param (KEY=VALUE).")
@conf_option
@json_option("Print one JSON document on stdout.")
def rerun(run_id: str, param: tuple[str, ...], conf: Path | None, as_json: bool) -> None:
    """Run only what failed, was cancelled or never ran in RUN_ID; reuse what succeeded.

    Reads the run's record from the audit store; the rerun is a new attempt of the same
    release (type ``rerun``, parent run id = RUN_ID).
    """
    from runwright.audit import ReleaseType, make_audit_backend
    from runwright.models.workflow import Workflow
    from runwright.schedule.release import replay_params

    try:
        audit = make_audit_backend(conf_path=conf)
        record = audit.get(run_id)
        if record is None:
            raise RunwrightError(f"no release record with run id '{run_id}' in {audit.url}")
        workflow = Workflow.from_conf(record.workflow, conf)
        secrets = workflow.runtime.secret_lookup(workflow.conf_path)
        params = replay_params(record, parse_params(param), secrets)  # read again, never '***'

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
        labels=record.labels,  # a rerun keeps its run's labels
        origin="cli",
    )
