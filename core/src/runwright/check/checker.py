"""Walk templates the way a run walks them, checking every value where it will be read.

The walk follows the runner: jobs with the names their ``needs:`` make reachable, stages in
order with the records of earlier ones, nested stages with the names their kind binds (the
``stage_scopes`` hook), ``catch``/``finally`` with ``error``. Each stage is then offered to
the ``check_stage`` hook (the built-in ``uses:`` and ``trigger:`` rules answer it too).
"""

from __future__ import annotations

import importlib
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from runwright.check.concurrency import check_concurrency
from runwright.check.conditions import check_condition
from runwright.check.expressions import ExpressionAnalyzer, Names
from runwright.check.findings import Finding, Report
from runwright.check.issues import Issue
from runwright.check.positions import FilePositions
from runwright.check.scope import (
    ANY,
    JobGraph,
    Shape,
    bound_shape,
    jobs_shape,
    matrix_shape,
    params_shape,
    release_event_shape,
    release_shape,
    stage_ids,
    stage_record,
    stages_shape,
)
from runwright.models.stage import NestedScope, Stage

CONDITION_FIELDS = frozenset({"if", "until"})
NOT_CHECKED_FIELDS = frozenset({"desc", "catch", "finally"})
MAX_CHECKED_STRATEGIES = 1000
BUILTIN_CHECK_MODULES = ("runwright.check.uses", "runwright.check.triggers", "runwright.check.foreach")
_REGISTER_LOCK = threading.Lock()


@dataclass
class TemplateCheck:
    """Reports for one template: turns a path inside it into file:line:col."""

    name: str
    file: Path
    positions: FilePositions
    report: Report
    severity_override: dict[str, str] = field(default_factory=dict)

    def add(
        self,
        rule: str,
        message: str,
        path: tuple[Any, ...] = (),
        *,
        nth: int | None = None,
        key: bool = False,
        severity: str = "error",
        needle: str = "${{",
    ) -> None:
        line, col = self.positions.locate(
            (self.name, *path), key=key, needle=needle if nth is not None else None, nth=nth or 0
        )
        severity = self.severity_override.get(rule, severity)
        self.report.findings.append(
            Finding(str(self.file), line, col, severity, rule, message, where(self.name, path))  # type: ignore[arg-type]
        )

    def issues(self, issues: list[Issue], path: tuple[Any, ...]) -> None:
        for issue in issues:
            self.add(issue.rule, issue.message, path, nth=issue.nth, severity=issue.severity)


def where(template: str, path: tuple[Any, ...]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else ("." if text else "") + str(part)
    return f"template '{template}'" + (f" {text}" if text else "")


def parse_path(text: str) -> tuple[Any, ...]:
    """``jobs.a.stages[2].with`` -> ``("jobs", "a", "stages", 2, "with")``."""
    return tuple(int(index) if index else key for key, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", text))


class StageView:
    """What the ``check_stage`` hook gets: the stage's place, its names, and ``report``."""

    def __init__(
        self, checker: Checker, tc: TemplateCheck, path: tuple[Any, ...], names: Names, workflow: Any
    ):
        self.checker = checker
        self.runtime = checker.runtime
        self.template = tc
        self.path = path
        self.names = names
        self.workflow = workflow
        self.declared_outputs: frozenset[str] | None = None

    @property
    def workflows(self) -> Mapping[str, Any] | None:
        """Workflow models of the conf by name (None: checking one template alone)."""
        return self.checker.workflows

    def names_here(self) -> list[str]:
        return sorted(self.names)

    def report(
        self, rule: str, message: str, field: str | tuple[Any, ...] | None = None, severity: str = "error"
    ) -> None:
        extra = () if field is None else ((field,) if isinstance(field, str) else field)
        self.template.add(rule, message, (*self.path, *extra), severity=severity)

    def declare_outputs(self, names: Iterable[str]) -> None:
        """The output names this stage can bind (a plugin kind that knows them before the run):
        ``stages.ID.outputs.X`` of another name is then an error."""
        self.declared_outputs = frozenset(names)

    def check_value(self, value: Any, field: str | tuple[Any, ...], names: Names | None = None) -> None:
        extra = (field,) if isinstance(field, str) else field
        self.checker.check_value(self.template, value, (*self.path, *extra), names or self.names)


class Checker:
    """Checks templates against one runtime (its stage kinds, filters and call functions)."""

    def __init__(self, runtime: Any, workflows: Mapping[str, Any] | None = None) -> None:
        self.runtime = runtime
        self.pm = runtime.pm
        self.analyzer = ExpressionAnalyzer(runtime.expressions)
        self.workflows = workflows
        self.pools: dict[str, int] | None = None  # pool name -> slots; None: not known (one template alone)
        self.combinations: list[dict[str, Any]] = []
        self.declared: dict[int, frozenset[str]] = {}  # id(stage) -> names check_stage declared
        self.known_outputs: dict[int, frozenset[str] | None] = {}
        self.trigger_edges: list[tuple[str, str, TemplateCheck, tuple[Any, ...]]] = []
        with _REGISTER_LOCK:  # runs may start checks from several threads at once
            for module_name in BUILTIN_CHECK_MODULES:
                if self.pm.get_plugin(module_name) is None:
                    self.pm.register(importlib.import_module(module_name), name=module_name)

    def outputs_of(self, stage: Stage) -> frozenset[str] | None:
        """The output names a stage can bind: what ``check_stage`` declared, else the kind's
        :meth:`~runwright.models.stage.Stage.static_outputs` (None: not known)."""
        key = id(stage)
        if key in self.declared:
            return self.declared[key]
        if key not in self.known_outputs:
            try:
                self.known_outputs[key] = stage.static_outputs(self.runtime)
            except Exception:  # a kind's own analysis failing is not the template's problem
                self.known_outputs[key] = None
        return self.known_outputs[key]

    # -- values ------------------------------------------------------------------------------

    def check_value(self, tc: TemplateCheck, value: Any, path: tuple[Any, ...], names: Names) -> None:
        # plain data first: isinstance against Stage, BaseModel and Mapping goes through ABCMeta
        if isinstance(value, str):
            if "${{" in value:
                tc.issues(self.analyzer.check_text(value, names), path)
        elif value is None or isinstance(value, int | float):
            return
        elif isinstance(value, dict):
            for key, item in value.items():
                self.check_value(tc, item, (*path, key), names)
        elif isinstance(value, list | tuple):
            for index, item in enumerate(value):
                self.check_value(tc, item, (*path, index), names)
        elif isinstance(value, Stage):
            return
        elif isinstance(value, BaseModel):
            for name, info in type(value).model_fields.items():
                self.check_value(tc, getattr(value, name), (*path, info.alias or name), names)
        elif isinstance(value, Mapping):
            for key, item in value.items():
                self.check_value(tc, item, (*path, key), names)

    def check_condition(self, tc: TemplateCheck, condition: Any, path: tuple[Any, ...], names: Names) -> None:
        tc.issues(check_condition(self.analyzer, condition, names, str(path[-1])), path)

    # -- workflows ---------------------------------------------------------------------------

    def check_workflow(self, tc: TemplateCheck, workflow: Any) -> None:
        params = params_shape(workflow.name, workflow.params)
        # started by another workflow's release (on: release): the upstream is there too
        release = release_event_shape() if workflow.released_after else release_shape()
        for name, spec in workflow.params.items():  # a default may use the run's release
            self.check_value(tc, spec.default, ("params", name, "default"), {"release": release})
        graph = JobGraph(workflow.jobs, self.outputs_of)
        job_names: dict[str, Names] = {}
        for job_id, job in workflow.jobs.items():
            path = ("jobs", job_id)
            # stage ids may hold ${{ matrix.* }}: known for the first strategies (bounded cost)
            self.combinations = job.strategy.combinations()[:MAX_CHECKED_STRATEGIES] if job.strategy else []
            jobs = jobs_shape(graph, job_id)
            base: dict[str, Shape] = {
                "params": params,
                "jobs": jobs,
                "release": release,  # every run has one (models/release.py)
            }
            self.check_condition(tc, job.if_, (*path, "if"), base)
            for axis, text in (job.strategy.data_axes() if job.strategy else {}).items():
                self.check_data_axis(tc, workflow, axis, text, (*path, "strategy", "matrix", axis), base)
            names = {**base, "matrix": matrix_shape(job_id, job.strategy)}
            job_names[job_id] = names
            self.walk_stages(tc, job.stage_list, (*path, "stages"), names, {}, workflow)
            if job.outputs:
                everything = {**names, "stages": stages_shape(stage_ids(job.stage_list, self.outputs_of))}
                self.check_value(tc, job.outputs, (*path, "outputs"), everything)
            no_matrix = {**base, "matrix": matrix_shape(job_id, None), "error": ANY}
            for key, group in (("catch", job.catch), ("finally", job.finally_)):
                if group:
                    self.walk_stages(tc, group, (*path, key), no_matrix, {}, workflow)
        check_concurrency(self, tc, workflow, {"params": params, "release": release}, job_names)

    def check_data_axis(
        self, tc: TemplateCheck, workflow: Any, axis: str, text: str, path: tuple[Any, ...], names: Names
    ) -> None:
        """A matrix axis from data: its names exist where the job starts, and a param it takes
        is an array (a needed job's output is known only when that job ran)."""
        self.check_value(tc, text, path, names)
        problem = not_an_array(workflow, text)
        if problem:
            tc.add("matrix", f"matrix axis '{axis}' {problem}", path)

    def walk_stages(
        self,
        tc: TemplateCheck,
        stages: list[Stage],
        path: tuple[Any, ...],
        names: Names,
        enclosing: Mapping[str, Shape],
        workflow: Any,
    ) -> None:
        visible = dict(enclosing)
        ids = [self.identities(stage) for stage in stages]
        flat = [identity for group in ids for identity in group]
        start = 0
        for index, stage in enumerate(stages):
            later = flat[start:]  # this stage's ids and every later one
            start += len(ids[index])
            here = {**names, "stages": stages_shape(visible, later)}
            self.walk_stage(tc, stage, (*path, index), here, visible, workflow)
            outputs = self.outputs_of(stage)
            for identity in ids[index]:
                visible[identity] = stage_record(identity, outputs)

    def identities(self, stage: Stage) -> list[str]:
        """The ids a stage has at run time: one per strategy when ``${{ matrix.* }}`` is in it."""
        if not self.combinations or "${{" not in stage.identity:
            return [stage.identity]
        render = self.runtime.expressions.render
        try:
            return sorted({stage.for_matrix(combo, render).identity for combo in self.combinations})
        except Exception:  # a broken id expression is reported where the id is checked
            return [stage.identity]

    def walk_stage(
        self,
        tc: TemplateCheck,
        stage: Stage,
        path: tuple[Any, ...],
        here: dict[str, Shape],
        visible: Mapping[str, Shape],
        workflow: Any,
    ) -> None:
        scopes: list[NestedScope] = self.pm.hook.stage_scopes(stage=stage) or default_scopes(stage)
        later_fields = {name for scope in scopes for name in scope.fields}
        for name, info in type(stage).model_fields.items():
            alias = info.alias or name
            if alias in NOT_CHECKED_FIELDS or alias in later_fields:
                continue
            value = getattr(stage, name)
            if alias in CONDITION_FIELDS:
                self.check_condition(tc, value, (*path, alias), here)
            else:
                self.check_value(tc, value, (*path, alias), here)
        outer = {key: shape for key, shape in here.items() if key != "stages"}
        for scope in scopes:
            inner = {**outer, **{name: bound_shape(keys, name) for name, keys in scope.binds.items()}}
            self.walk_stages(tc, scope.stages, (*path, *scope.path), inner, visible, workflow)
            after = {**inner, "stages": stages_shape({**visible, **stage_ids(scope.stages, self.outputs_of)})}
            for name in scope.fields:
                value = getattr(stage, _attribute(stage, name))
                if name in CONDITION_FIELDS:
                    self.check_condition(tc, value, (*path, name), after)
                else:
                    self.check_value(tc, value, (*path, name), after)
        with_error = {**outer, "error": ANY}
        for key, group in (("catch", stage.catch), ("finally", stage.finally_)):
            if group:
                self.walk_stages(tc, group, (*path, key), with_error, visible, workflow)  # type: ignore[arg-type]
        view = StageView(self, tc, path, here, workflow)
        self.pm.hook.check_stage(stage=stage, checker=view)
        if view.declared_outputs is not None:
            self.declared[id(stage)] = view.declared_outputs


def not_an_array(workflow: Any, text: str) -> str | None:
    """Why ``${{ params.X }}`` cannot give a list (X is declared with another type), else None."""
    from runwright.templating.engine import dotted_path

    stripped = text.strip()
    if not (stripped.startswith("${{") and stripped.endswith("}}")):
        return None
    chain = dotted_path(stripped[3:-2].strip())
    if not chain or chain[0] != "params" or len(chain) != 2 or chain[1] not in workflow.params:
        return None
    kind = workflow.params[chain[1]].type
    if kind == "array":
        return None
    return f"takes params.{chain[1]}, a {kind} param; a list is expected (declare it with type: array)"


def _attribute(stage: Stage, alias: str) -> str:
    for name, info in type(stage).model_fields.items():
        if (info.alias or name) == alias:
            return name
    return alias


def default_scopes(stage: Stage) -> list[NestedScope]:
    """Nested stages of a kind that does not answer ``stage_scopes``: no names bound."""
    scopes = []
    for group in stage.nested_stages():
        scopes.append(NestedScope(_find_path(stage, group) or (), group))
    return scopes


def _find_path(value: Any, target: list[Any]) -> tuple[Any, ...] | None:
    if value is target:
        return ()
    if isinstance(value, BaseModel):
        for name, info in type(value).model_fields.items():
            if name in ("catch", "finally_"):
                continue
            found = _find_path(getattr(value, name), target)
            if found is not None:
                return (info.alias or name, *found)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            found = _find_path(item, target)
            if found is not None:
                return (key, *found)
    elif isinstance(value, list) and not (value and isinstance(value[0], Stage)):
        for index, item in enumerate(value):
            found = _find_path(item, target)
            if found is not None:
                return (index, *found)
    return None
