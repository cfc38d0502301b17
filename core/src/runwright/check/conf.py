"""Check a whole conf path: every file, every template, all problems at once.

A file that cannot be read is reported and the others are still checked. ``${VAR}`` values
are not needed: an unset variable is a warning (an error with ``strict_env``).
"""

from __future__ import annotations

import graphlib
import re
from pathlib import Path
from typing import Any

from runwright.check.checker import Checker, TemplateCheck, parse_path
from runwright.check.findings import Finding, Report
from runwright.check.issues import did_you_mean
from runwright.check.positions import FilePositions
from runwright.check.salvage import build_salvaged
from runwright.check.schedules import check_schedule, rule_for
from runwright.check.triggers import trigger_cycles
from runwright.errors import RunwrightError
from runwright.loader import BrokenConf, TemplateSource, collection_paused, conf_files, discover


def check_conf(root: Path, runtime: Any, *, strict_env: bool = False) -> Report:
    """Every problem of every template under ``root`` (a directory or one file)."""
    with collection_paused():  # what is read stays alive to the end; collections would only re-walk it
        return _check_conf(root, runtime, strict_env=strict_env)


def _check_conf(root: Path, runtime: Any, *, strict_env: bool) -> Report:
    report = Report()
    files = conf_files(root)
    report.files = len(files)
    broken: list[BrokenConf] = []
    sources = discover(root, broken)
    positions = {file: FilePositions(file) for file in files}
    for problem in broken:
        marks = re.findall(r"line (\d+), column (\d+)", problem.message)
        line, col = (int(marks[-1][0]), int(marks[-1][1])) if marks else (problem.line or 1, 1)
        rule = "duplicate-template" if "defined twice" in problem.message else "yaml"
        if problem.template and rule == "yaml":
            rule = "template-shape"
        message = problem.message.split("\n")[0].removeprefix(f"{problem.file}: ")
        report.findings.append(Finding(str(problem.file), line, col, "error", rule, message))
    return check_sources(sources, runtime, report, positions, strict_env=strict_env)


def check_sources(
    sources: dict[str, TemplateSource],
    runtime: Any,
    report: Report,
    positions: dict[Path, FilePositions],
    *,
    strict_env: bool = False,
) -> Report:
    models: dict[str, Any] = {}
    checks: dict[str, TemplateCheck] = {}
    for name, source in sources.items():
        tc = TemplateCheck(
            name, source.file, positions.setdefault(source.file, FilePositions(source.file)), report
        )
        if strict_env:
            tc.severity_override["env-missing"] = "error"
        checks[name] = tc
        missing: list[tuple[str, str]] = []
        try:
            problems, models[name] = build_salvaged(source, runtime, missing)
            for problem in problems:
                loc = problem.loc or parse_path(problem.path) or _job_named_in(problem.message)
                tc.add(
                    rule_for(loc, problem.message),
                    problem.message,
                    loc,
                    key=problem.message.startswith("unknown key"),
                )
        except RunwrightError as exc:
            models[name] = None
            tc.add("template", str(exc))
        except Exception as exc:  # a plugin's bug or an unforeseen limit: this template only
            models[name] = None
            tc.add("template", f"cannot be built: {type(exc).__name__}: {exc}")
        report.templates += 1
        looked_in = runtime.secret_lookup(source.root or source.file.parent).looked_in() if missing else ""
        for variable, where in missing:
            tc.add(
                "env-missing",
                f"environment variable '{variable}' is not set and has no default; a run needs it "
                f"(looked in: {looked_in}; write ${{{variable}:-default}} to give one)",
                parse_path(where) if where != "(top)" else (),
                nth=0,
                needle="${" + variable,
                severity="warning",
            )
    workflows = {
        name: model
        for name, model in models.items()
        if model is None or getattr(model, "type", "") == "Workflow"
    }
    checker = Checker(runtime, workflows)
    checker.pools = {
        name: model.slots for name, model in models.items() if getattr(model, "type", "") == "Pool"
    }
    for name, model in models.items():
        if model is None:
            continue
        if model.type == "Workflow":
            checker.check_workflow(checks[name], model)
        elif model.type == "Schedule":
            check_schedule(checker, checks[name], model)
    for cycle, tc, path in trigger_cycles(checker.trigger_edges):
        tc.add("trigger-cycle", f"workflows trigger each other in a cycle: {cycle}", path)
    check_release_triggers(workflows, checks)
    return report


def check_release_triggers(workflows: dict[str, Any], checks: dict[str, TemplateCheck]) -> None:
    """``on: {release: [...]}`` names existing workflows, and followers never loop back."""
    loaded = {name: model for name, model in workflows.items() if model is not None}
    edges: dict[str, set[str]] = {}
    for name, workflow in loaded.items():
        for upstream in workflow.released_after:
            if upstream not in workflows:
                checks[name].add(
                    "release-unknown",
                    f"on.release names unknown workflow '{upstream}'{did_you_mean(upstream, workflows)}",
                    ("on",),
                    key=True,
                )
        edges[name] = set(workflow.released_after) & set(loaded)
    while True:
        try:
            graphlib.TopologicalSorter(edges).prepare()
            return
        except graphlib.CycleError as exc:
            cycle = list(reversed(exc.args[1]))
            checks[cycle[0]].add(
                "release-loop",
                f"on.release forms a loop: {' -> '.join(cycle)} (each finished release would start the next)",
                ("on",),
                key=True,
            )
            for member in cycle:
                edges.pop(member, None)
            for targets in edges.values():
                targets.difference_update(cycle)


def _job_named_in(message: str) -> tuple[str, ...]:
    """A workflow-level error about one job (``job 'b' needs ...``) points at that job."""
    match = re.search(r"job '([^']+)' needs", message) or re.search(r"cycle: ([^ ]+) ->", message)
    return ("jobs", match.group(1), "needs") if match else ()


def check_model(model: Any, runtime: Any) -> Report:
    """One loaded template alone (before a run): rules needing the rest of the conf are skipped."""
    report = Report(templates=1, files=1)
    source = getattr(model, "_source", None)
    file = Path(source) if source else Path("<memory>")
    tc = TemplateCheck(model.name, file, FilePositions(file), report)
    checker = Checker(runtime, None)
    if model.type == "Workflow":
        checker.check_workflow(tc, model)
    return report
