"""``on: {release: [upstream, ...]}``: release a workflow when another workflow's release finishes.

A downstream release has the upstream's logical date (in the audit store it is claimed like any
release of that date, so two schedulers still run it once) and no params beyond its defaults.
Its run context holds ``release``::

    release:
      logical_date: "2026-01-01T00:00:00+00:00"
      upstream: {workflow: extract, run_id: "...", status: SUCCESS, logical_date: "..."}

so stages can read ``${{ release.upstream.run_id }}`` or skip with
``if: ${{ release.upstream.status == 'SUCCESS' }}``. Releases that finish SUCCESS, FAILED or SKIP
are followed; CANCEL (a stopped scheduler, Ctrl-C) is not. Loops (a -> b -> a) and names of
workflows that do not exist are refused by ``runwright validate``, ``runwright run`` and the
scheduler.
"""

from __future__ import annotations

import graphlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runwright.audit import AuditBackend, ReleaseType
from runwright.errors import RunwrightError
from runwright.loader import build_model, discover
from runwright.models.events import has_release_trigger

if TYPE_CHECKING:
    from runwright.engine.result import Result
    from runwright.models.workflow import Workflow
    from runwright.runtime import Runtime
    from runwright.schedule.release import ClaimedRunner, ReleaseOutcome

log = logging.getLogger("runwright.release_triggers")

FOLLOWED_STATUSES = frozenset({"SUCCESS", "FAILED", "SKIP"})


def load_followers(conf_path: Path, runtime: Runtime) -> dict[str, Workflow]:
    """Every valid workflow in the conf path that has ``on: release`` (others are not built)."""
    from runwright.models.workflow import Workflow

    followers: dict[str, Workflow] = {}
    # a broken file was already named by the loader; it must not stop this run's followers
    if Path(conf_path).is_dir():  # through the template index: only the followers' files are read
        from runwright.conf_index import release_followers

        sources = release_followers(Path(conf_path))
    else:
        sources = discover(conf_path, [])
    for name, source in sources.items():
        if source.raw.get("type") != "Workflow" or not has_release_trigger(source.raw):
            continue
        try:
            workflow = build_model(source, runtime, Workflow)
        except RunwrightError as exc:
            log.error("skipping invalid template: %s", exc)
            continue
        workflow._conf_path = conf_path
        followers[name] = workflow
    return followers


def release_problems(workflows: Mapping[str, Workflow], known: set[str] | None = None) -> list[str]:
    """Unknown upstream names and loops, one message each (empty when all is well)."""
    names = set(workflows) | (known or set())
    problems = []
    for name, workflow in sorted(workflows.items()):
        for upstream in workflow.released_after:
            if upstream not in names:
                from runwright.spelling import did_you_mean  # only when something is misspelt

                hint = did_you_mean(upstream, names)
                problems.append(
                    f"{workflow.source or '?'}: template '{name}': on.release names unknown "
                    f"workflow '{upstream}'{hint}"
                )
    for cycle in release_loops(workflows):
        problems.append(
            "on.release forms a loop: " + " -> ".join(cycle) + " (each finished release would start the next)"
        )
    return problems


def release_loops(workflows: Mapping[str, Workflow]) -> list[list[str]]:
    """Each loop once (found one at a time: a loop's members are taken out and we look again)."""
    names = set(workflows)  # once: a set per workflow made this quadratic (4 s for 10,000)
    # a loop only passes through workflows that follow another one
    edges = {name: set(wf.released_after) & names for name, wf in workflows.items() if wf.released_after}
    found: list[list[str]] = []
    while True:
        try:
            graphlib.TopologicalSorter(edges).prepare()
            return found
        except graphlib.CycleError as exc:
            cycle = list(reversed(exc.args[1]))
            found.append(cycle)
            edges = {name: ups - set(cycle) for name, ups in edges.items() if name not in cycle}


def followers_graph(workflows: Mapping[str, Workflow]) -> dict[str, list[str]]:
    """upstream name -> the workflows released after it, leaving out workflows in loops."""
    in_loops = {member for cycle in release_loops(workflows) for member in cycle}
    graph: dict[str, list[str]] = {}
    for name, workflow in sorted(workflows.items()):
        if name in in_loops:
            continue
        for upstream in workflow.released_after:
            graph.setdefault(upstream, []).append(name)
    return graph


def upstream_event(workflow: str, run_id: str | None, status: str, logical_date: datetime) -> dict[str, Any]:
    """The ``release`` context of a run started by ``on: release``."""
    date = logical_date.isoformat()
    return {
        "logical_date": date,
        "upstream": {"workflow": workflow, "run_id": run_id, "status": status, "logical_date": date},
    }


def release_followers(
    upstream: str,
    outcome_status: str,
    run_id: str | None,
    logical_date: datetime,
    workflows: Mapping[str, Workflow],
    graph: Mapping[str, list[str]],
    *,
    audit: AuditBackend | None,
    mode: str,
    release_type: ReleaseType,
    run_options: Mapping[str, Any] | None = None,
    runner: ClaimedRunner | None = None,
    traceparent: str | None = None,
) -> list[ReleaseOutcome]:
    """Release every workflow that follows ``upstream`` (and theirs, in turn); their outcomes.

    ``traceparent`` is the upstream run's W3C trace context: a follower's run continues it.
    """
    from runwright.schedule.release import ReleaseOutcome, release

    if outcome_status not in FOLLOWED_STATUSES:
        return []
    event = upstream_event(upstream, run_id, outcome_status, logical_date)
    outcomes: list[ReleaseOutcome] = []
    for name in graph.get(upstream, []):
        options = {**(run_options or {}), "release_event": event}
        if traceparent is not None:
            options["traceparent"] = traceparent
        log.info("releasing %s after %s (%s)", name, upstream, outcome_status)
        try:
            workflow = workflows[name]  # the scheduler builds (validates) a follower here
            if audit is None:
                result = workflow.execute(None, **options)
                outcome = ReleaseOutcome(
                    name, logical_date, True, result.status.value, run_id=result.run_id, result=result
                )
            else:
                outcome = release(
                    workflow,
                    logical_date,
                    None,
                    mode=mode,
                    release_type=release_type,
                    audit=audit,
                    run_options=options,
                    render_params=False,
                    runner=runner,
                )
        except RunwrightError as exc:
            outcome = failed_follower(name, logical_date, exc, workflows, audit, mode, release_type)
        outcomes.append(outcome)
        if outcome.ran:
            outcomes.extend(
                release_followers(
                    name,
                    outcome.status,
                    outcome.run_id,
                    logical_date,
                    workflows,
                    graph,
                    audit=audit,
                    mode=mode,
                    release_type=release_type,
                    run_options=run_options,
                    runner=runner,
                    traceparent=outcome.result.traceparent if outcome.result is not None else None,
                )
            )
    return outcomes


def failed_follower(
    name: str,
    logical_date: datetime,
    error: RunwrightError,
    workflows: Mapping[str, Workflow],
    audit: AuditBackend | None,
    mode: str,
    release_type: ReleaseType,
) -> ReleaseOutcome:
    """A follower that could not start; recorded FAILED in the audit store when its template
    does not validate (the scheduler builds followers on first use)."""
    from runwright.errors import TemplateError
    from runwright.schedule.release import ReleaseMode, ReleaseOutcome, new_record, record_failed_release

    template = getattr(workflows, "templates", {}).get(name)
    if (
        audit is None
        or template is None
        or not isinstance(error, TemplateError)
        or mode != ReleaseMode.NORMAL
    ):
        return ReleaseOutcome(name, logical_date, False, "FAILED", reason=str(error))
    log.error("release of %s @ %s FAILED before it started: %s", name, logical_date, error)
    return record_failed_release(
        audit, new_record(template, logical_date, ReleaseType(release_type), {}), error
    )


@dataclass
class Followers:
    """The workflows released after one workflow by ``on: release`` (and theirs, in turn)."""

    workflows: dict[str, Workflow]
    graph: dict[str, list[str]]
    upstream: str

    @classmethod
    def of(cls, workflow: Workflow) -> Followers:
        found = load_followers(workflow.conf_path, workflow.runtime) if workflow.conf_path else {}
        workflows = {**found, workflow.name: workflow}
        reachable = {workflow.name}
        pending = [workflow.name]
        while pending:  # loops among the workflows this run would start, not unrelated ones
            current = pending.pop()
            for name, follower in workflows.items():
                if current in follower.released_after and name not in reachable:
                    reachable.add(name)
                    pending.append(name)
        loops = [loop for loop in release_loops(workflows) if reachable & set(loop)]
        if loops:
            shown = "; ".join(" -> ".join(loop) for loop in loops)
            raise RunwrightError(
                f"on.release forms a loop: {shown} (each finished release would start the next)"
            )
        return cls(workflows, followers_graph(workflows), workflow.name)

    def release(
        self, result: Result, logical_date: datetime, audit: AuditBackend | None, run_options: dict[str, Any]
    ) -> list[ReleaseOutcome]:
        if not self.graph.get(self.upstream):
            return []
        return release_followers(
            self.upstream,
            result.status.value,
            result.run_id,
            logical_date,
            self.workflows,
            self.graph,
            audit=audit,
            mode="force",
            release_type=ReleaseType.MANUAL,
            run_options=run_options,
            traceparent=result.traceparent,
        )
