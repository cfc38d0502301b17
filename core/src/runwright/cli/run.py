"""``runwright run``: run one workflow and show its result.

Only click is imported with the module (``runwright run --help`` stays light); the models, the
engine and the audit store are imported by the command when it runs.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from click.exceptions import Exit

from runwright.cli.app import EXIT_FAILED, app, fail_usage
from runwright.cli.options import conf_option, json_option, param_option
from runwright.errors import RunwrightError

if TYPE_CHECKING:
    from runwright.audit import AuditBackend
    from runwright.engine.context import CancelScope
    from runwright.engine.result import Result
    from runwright.models.workflow import Workflow
    from runwright.schedule.release import DataParams, ReleaseOutcome
    from runwright.schedule.release_triggers import Followers


def parse_params(pairs: tuple[str, ...] | list[str]) -> DataParams:
    """``KEY=VALUE`` pairs from the command line: data, never rendered as expressions."""
    from runwright.schedule.release import DataParams

    params = DataParams()
    malformed = [str(number) for number, pair in enumerate(pairs, 1) if "=" not in pair]
    if malformed:  # the text is not repeated: a password may have lost its 'KEY='
        raise fail_usage(
            f"-p expects KEY=VALUE: -p number {', '.join(malformed)} has no '=' (its text is not shown)"
        )
    for pair in pairs:
        key, value = pair.split("=", 1)
        params[key.strip()] = value
    return params


@app.command()
@click.argument("name", help="The workflow template's name.")
@param_option("A param as KEY=VALUE (repeatable).")
@click.option(
    "--label",
    "-l",
    multiple=True,
    metavar="KEY=VALUE",
    help="A label for this run as KEY=VALUE, stored with its record (repeatable).",
)
@conf_option
@json_option("Print one JSON document on stdout.")
@click.option("--dry-run", is_flag=True, help="Check params, expressions and uses: without running anything.")
@click.option("--quiet", "-q", is_flag=True, help="Show only the summary, not the stages' output.")
@click.option(
    "--logical-date",
    metavar="DATE",
    help="Run for this date (ISO; without an offset, in the schedule's timezone); default: now.",
)
def run(
    name: str,
    param: tuple[str, ...],
    label: tuple[str, ...],
    conf: Path | None,
    as_json: bool,
    dry_run: bool,
    quiet: bool,
    logical_date: str | None,
) -> None:
    """Run a workflow. Exit 0 on success, 1 when the run failed, 2 on bad input.

    The run is recorded in the audit store as a manual release (``runwright audit list``) for
    its logical date: ``--logical-date``, else the wall clock. Date params without a default
    are that date.
    """
    from runwright.audit import ACTIVE_STATUSES, mark_dead_crashed
    from runwright.cli.progress import Progress
    from runwright.models.labels import parse_label_pairs
    from runwright.models.release import release_context
    from runwright.models.workflow import Workflow
    from runwright.schedule.release_triggers import Followers

    params = parse_params(param)
    try:
        labels = parse_label_pairs(label)
        workflow = Workflow.from_conf(name, conf)
        when = workflow.as_logical_date(logical_date) if logical_date else workflow.manual_logical_date()
        if dry_run:
            from runwright.check import check_model

            findings = check_model(workflow, workflow.runtime).sorted()
            outcome = workflow.release(when, params, mode="dryrun", render_params=False)
            show_dry_run(outcome, as_json, findings)
            return
        release_now = release_context(when, "manual", events=workflow.on)
        typed = workflow.parameterize(params, release_now)  # bad params: a usage error before any record
        if not as_json:
            show_header(
                workflow, release_now, "--logical-date" if logical_date else "the wall clock", params, typed
            )
        followers = Followers.of(workflow)  # on: release loops are a usage error too
        audit = optional_audit(workflow)
        if audit is not None:  # runs of this workflow a killed process left RUNNING: CRASHED
            for status in ACTIVE_STATUSES:
                mark_dead_crashed(audit, audit.list(workflow.name, status))
        if audit is None:
            with Progress(enabled=not (as_json or quiet)) as observer:
                result = workflow.execute(typed, observer=observer, release=release_now)
                chained = followers.release(result, when, None, {"observer": observer})
            finish(result, as_json, chained)
            return
    except RunwrightError as exc:
        raise fail_usage(str(exc)) from None
    release_and_report(
        workflow,
        when,
        typed,  # converted once: the run takes them as they are, for the same logical date
        as_json,
        mode="force",
        release_type="manual",
        audit=audit,
        followers=followers,
        quiet=quiet,
        labels=labels,
        origin="cli",
    )


def show_header(
    workflow: Workflow, release: dict[str, Any], source: str, given: dict[str, Any], typed: dict[str, Any]
) -> None:
    """The run's logical date and where it came from, and each param that derives from it."""
    click.echo(f"{workflow.name}: logical date {release['logical_date'].isoformat()} (from {source})")
    for name, spec in workflow.params.items():
        if name in given or spec.type not in ("date", "datetime"):
            continue
        value = typed.get(name)
        shown = value.isoformat() if hasattr(value, "isoformat") else value
        origin = "the logical date" if spec.default is None else f"its default {spec.default!r}"
        click.echo(f"  param {name} = {shown} (from {origin})")


def release_and_report(
    workflow: Workflow,
    logical_date: Any,
    params: dict[str, Any],
    as_json: bool,
    followers: Followers | None = None,
    quiet: bool = False,
    **options: Any,
) -> None:
    """Run one release with live progress, print its result, exit 1 if it did not succeed.

    Params typed on the command line are data, never rendered as expressions. ``followers``
    (``on: release``) are released after it, with the same logical date.
    """
    from runwright.cli.progress import Progress
    from runwright.engine.context import CancelScope
    from runwright.schedule.release import release

    scope = CancelScope()
    chained: list[ReleaseOutcome] = []
    try:
        with Progress(enabled=not (as_json or quiet)) as observer, cancel_on_signals(scope):
            run_options = {"observer": observer, "scope": scope}
            outcome = release(
                workflow,
                logical_date,
                params,
                render_params=False,
                run_options=run_options,
                **options,
            )
            result = outcome_result(outcome)
            if followers is not None:
                chained = followers.release(result, outcome.logical_date, options.get("audit"), run_options)
    except RunwrightError as exc:
        raise fail_usage(str(exc)) from None
    finish(result, as_json, chained)


@contextlib.contextmanager
def cancel_on_signals(scope: CancelScope) -> Iterator[None]:
    """Ctrl-C or SIGTERM cancels the run (scripts stopped, record CANCEL) instead of killing
    the process and leaving its record RUNNING."""

    from runwright.cli.signals import handling_signals

    def cancel(signum: int) -> None:
        click.echo(f"received signal {signum}: cancelling the run", err=True)
        scope.cancel(f"interrupted by signal {signum}")

    with handling_signals(cancel):
        yield


def finish(result: Result, as_json: bool, chained: list[ReleaseOutcome] | None = None) -> None:
    from runwright.engine.result import Status

    chained = chained or []
    emit_result(result, as_json, chained)
    ok = (Status.SUCCESS.value, Status.SKIP.value)
    if result.status.value not in ok or any(outcome.status not in ok for outcome in chained):
        raise Exit(EXIT_FAILED)


def optional_audit(workflow: Workflow) -> AuditBackend | None:
    """The configured audit store; without one (no store installed) runs still run, and say so.

    The first run recorded in the default store names it, once: the store is then not empty.
    """
    from runwright.audit import OrphanedAuditStore, make_audit_backend
    from runwright.config import Settings

    configured = Settings.from_env().audit_url
    try:
        audit = make_audit_backend(pm=workflow.runtime.pm, conf_path=workflow.conf_path)
    except RunwrightError as exc:
        if configured or isinstance(exc, OrphanedAuditStore):
            raise
        click.echo(f"warning: {exc}", err=True)
        return None
    if not configured and not audit.list(limit=1):
        note = f"recording runs in {audit.url} (the default store; RUNWRIGHT_AUDIT_URL chooses another)"
        click.echo(note, err=True)
    return audit


def outcome_result(outcome: ReleaseOutcome) -> Result:
    """The run's Result; a release that failed before running becomes a FAILED result."""
    if outcome.result is not None:
        return outcome.result
    if not outcome.ran:  # another attempt of this release is running or has succeeded
        raise RunwrightError(f"{outcome.workflow} @ {outcome.logical_date.isoformat()}: {outcome.reason}")
    errors = (
        outcome.record.errors if outcome.record else [{"name": "ReleaseError", "message": outcome.reason}]
    )
    raise RunwrightError("; ".join(e["message"] for e in errors))


def show_dry_run(outcome: ReleaseOutcome, as_json: bool, findings: list[Any] | None = None) -> None:
    """The dry run's checks, after the static checker's findings (the same as ``validate``'s)."""
    from runwright.engine.result import Status

    findings = findings or []
    errors = [f for f in findings if f.severity == "error"]
    status = Status.FAILED.value if errors else outcome.status
    if as_json:
        problems = [
            {k: getattr(f, k) for k in ("file", "line", "col", "severity", "rule", "message", "where")}
            for f in findings
        ]
        document = {"status": status, "findings": problems, "checks": outcome.checks}
        click.echo(json.dumps(document, indent=2, default=str))
    else:
        for finding in findings:
            click.echo(finding.text())
        for check in outcome.checks:
            mark = "ok " if check["ok"] else "ERR"
            detail = check.get("message") or check.get("uses") or check.get("kind", "")
            deferred = f" (at run time: {', '.join(check['deferred'])})" if check.get("deferred") else ""
            click.echo(f"{mark} {check['where']}: {detail}{deferred}")
        click.echo(f"dry run: {status}")
    if status != Status.SUCCESS.value:
        raise Exit(EXIT_FAILED)


def emit_result(result: Result, as_json: bool, chained: list[ReleaseOutcome] | None = None) -> None:
    keys = ("run_id", "status", "context", "errors")
    if as_json:
        document = result.to_dict()
        shown = {k: document[k] for k in keys}
        if chained:  # runs started by `on: release`
            shown["followers"] = [_follower_document(outcome, keys) for outcome in chained]
        click.echo(json.dumps(shown, indent=2))
    else:
        show_result(result)
        for outcome in chained or []:
            if outcome.result is not None:
                show_result(outcome.result)
            else:
                click.echo(f"release of {outcome.workflow}: {outcome.status} {outcome.reason}".rstrip())


def _follower_document(outcome: ReleaseOutcome, keys: tuple[str, ...]) -> dict[str, Any]:
    if outcome.result is None:
        return {"workflow": outcome.workflow, "status": outcome.status, "reason": outcome.reason}
    document = outcome.result.to_dict()
    return {"workflow": outcome.workflow, **{k: document[k] for k in keys}}


SUMMARY_OUTPUT_CHARS = 200
"""How much of a stage's outputs the summary shows; the trace and ``--json`` hold all of it."""


def shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters with a visible ``…`` and how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit} more characters; --json or the trace has all)"


def show_result(result: Result) -> None:
    """A short human summary: one line per job and stage, then errors."""
    from runwright.cli.progress import outcome_note
    from runwright.masking import mask

    data = result.to_dict()
    click.echo(f"run {data['run_id']} of {data['workflow']}: {data['status']}")
    for job_id, job in data["context"].get("jobs", {}).items():
        reason = f" ({job['reason']})" if job.get("reason") else outcome_note(job)
        click.echo(f"  job {job_id}: {job['status']}{reason}")
        groups = {"": job.get("stages", {})}
        for sid, strategy in job.get("strategies", {}).items():
            groups[f"[{sid}] "] = strategy.get("stages", {})
        for prefix, stages in groups.items():
            for stage_id, stage in stages.items():
                outputs = stage.get("outputs")
                text = json.dumps(outputs, default=str) if outputs else ""
                shown = f" {shorten(text, SUMMARY_OUTPUT_CHARS)}" if outputs else ""
                click.echo(f"    {prefix}{stage_id}: {stage['status']}{outcome_note(stage)}{shown}")
    for error in mask(data["errors"]):
        job = str(error.get("job") or "") + (f"[{error['strategy']}]" if error.get("strategy") else "")
        where = "/".join(part for part in (job, str(error.get("stage") or "")) if part)
        click.echo(f"  error {where}: {error['name']}: {error['message']}", err=True)
    if result.log_file:
        click.echo(f"  trace: {result.log_file}")
