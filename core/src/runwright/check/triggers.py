"""``trigger:`` names an existing workflow with params it declares; triggers form no cycle."""

from __future__ import annotations

from typing import Any

from runwright.check.issues import did_you_mean
from runwright.hookspecs import hookimpl


@hookimpl
def check_stage(stage: Any, checker: Any) -> None:
    if getattr(stage, "kind", None) != "trigger":
        return
    workflows = checker.workflows
    target = stage.trigger
    if workflows is None or "${" in target:
        return
    if target not in workflows:
        checker.report(
            "trigger-workflow",
            f"trigger names no workflow '{target}'{did_you_mean(target, workflows)}",
            "trigger",
        )
        return
    model = workflows[target]
    if model is None:  # defined, but invalid itself: reported there
        return
    undeclared_params(checker, model, stage.params, "trigger-param", ("params",))
    checker.checker.trigger_edges.append(
        (checker.workflow.name, target, checker.template, (*checker.path, "trigger"))
    )


def undeclared_params(
    report: Any, workflow: Any, params: dict[str, Any], rule: str, path: tuple[Any, ...]
) -> None:
    """Params given to ``workflow`` that it does not declare, and required ones not given."""
    declared = workflow.params
    for key in params:
        if key not in declared:
            report.report(
                rule,
                f"workflow '{workflow.name}' declares no param '{key}'{did_you_mean(str(key), declared)} "
                f"(params: {', '.join(declared) or 'none'})",
                (*path, key),
            )
    for key, spec in declared.items():
        if key not in params and spec.is_required():
            report.report(
                rule,
                f"workflow '{workflow.name}' requires param '{key}' ({spec.type}) but it is not given",
                path,
            )


def trigger_cycles(
    edges: list[tuple[str, str, Any, tuple[Any, ...]]],
) -> list[tuple[str, Any, tuple[Any, ...]]]:
    """Each trigger edge that lies on a cycle, with the cycle written out."""
    graph: dict[str, set[str]] = {}
    for source, target, _, _ in edges:
        graph.setdefault(source, set()).add(target)

    def path_between(start: str, goal: str) -> list[str] | None:
        stack: list[tuple[str, list[str]]] = [(start, [start])]
        seen: set[str] = set()
        while stack:
            node, trail = stack.pop()
            if node == goal:
                return trail
            if node in seen:
                continue
            seen.add(node)
            for nxt in sorted(graph.get(node, ())):
                stack.append((nxt, [*trail, nxt]))
        return None

    found = []
    for source, target, tc, path in edges:
        back = path_between(target, source)
        if back is not None:
            found.append((" -> ".join([source, *back]), tc, path))
    return found
