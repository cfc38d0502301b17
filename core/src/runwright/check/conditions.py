"""``if:`` and ``until:``: a condition is one expression, and one that cannot vary is a mistake.

A condition is compiled as one expression with each ``${{ e }}`` replaced by ``(e)``, so
``${{ params.n }} == 2`` and ``params.n == 2`` mean the same. A condition holding no name at
all (``if: "yes"``, ``if: "${{ 'a' }}"``) is the same every run: always true is an error (a
non-empty string is never what its author meant), always false a warning (write ``if: false``
to switch a stage off).
"""

from __future__ import annotations

from typing import Any

from runwright.check.expressions import ExpressionAnalyzer, Names
from runwright.check.issues import Issue
from runwright.errors import ExpressionError
from runwright.templating.engine import EXPRESSION_START


def condition_expression(analyzer: ExpressionAnalyzer, text: str) -> tuple[str | None, str | None]:
    """The whole condition as the one expression text a run compiles, or ``(None, error)``."""
    try:
        return analyzer.engine.condition_source(text), None
    except ExpressionError as exc:
        return None, exc.problem


def check_condition(analyzer: ExpressionAnalyzer, condition: Any, names: Names, field: str) -> list[Issue]:
    if condition is None or isinstance(condition, bool):
        return []
    text = str(condition)
    expression, error = condition_expression(analyzer, text)
    if expression is None:
        return [Issue("expression-syntax", f"{field}: {error}", 0)]
    if not expression:
        return [Issue("condition-constant", f"{field}: the condition is empty, so it is always false")]
    node = analyzer.parse(expression)
    if isinstance(node, str):
        return [Issue("expression-syntax", f"{field} '{text.strip()}': {node}")]
    from jinja2 import nodes  # a condition is always parsed: it may be any expression

    if isinstance(node, nodes.Name) and node.name not in names and EXPRESSION_START not in text:
        return [
            Issue(
                "condition-constant",
                f"{field} '{text.strip()}' is a plain word, not a condition: as text it is always true "
                f"(write {field}: true/false, or compare a name: params.x == '{node.name}')",
            )
        ]
    if not any(True for _ in node.find_all(nodes.Name)):
        try:
            value = node.as_const(nodes.EvalContext(analyzer.env))
        except Exception:  # not foldable (a call, a filter...): judged at run time
            value = None
        else:
            truth = "true" if value and not (isinstance(value, str) and _falsy_text(value)) else "false"
            return [
                Issue(
                    "condition-constant",
                    f"{field} '{text.strip()}' is always {truth}: it holds no name that can change "
                    f"(write {field}: {truth} if that is meant, or compare a name: params.x == 'yes')",
                    # always true is the classic mistake (a non-empty string); always false
                    # switches something off, perhaps on purpose
                    severity="error" if truth == "true" else "warning",
                )
            ]
    return [
        Issue(
            issue.rule, issue.message.replace(f"'${{{{ {expression} }}}}'", f"{field} '{text.strip()}'"), None
        )
        for issue in analyzer.check_expression(expression, names, None)
    ]


def _falsy_text(value: str) -> bool:
    """As the runner reads a rendered condition (``"false"``, ``"0"``, ``"no"``... are false)."""
    return value.strip().lower() in {"", "false", "0", "no", "off", "none", "null"}
