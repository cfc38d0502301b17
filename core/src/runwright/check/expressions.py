"""Names inside ``${{ }}``: parse with jinja2's own parser and resolve every name chain.

The value is split exactly as the expression engine splits it (jinja's lexer, hyphenated
names joined the same way), each expression is parsed into jinja2's AST, and every chain of
``Name``/``Getattr``/``Getitem`` with constant keys is followed through the :class:`Shape` of
what the run will hold at that place.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from jinja2 import TemplateSyntaxError, nodes
from jinja2.parser import Parser

from runwright.check.filters import check_filter, check_test
from runwright.check.issues import Issue, did_you_mean, listing
from runwright.check.scope import BOUND_ELSEWHERE, Shape
from runwright.errors import ExpressionError
from runwright.templating.engine import EXPRESSION_START, ExpressionEngine

Names = Mapping[str, Shape]


class ExpressionAnalyzer:
    """Parses each distinct expression text once; checks names, filters and tests."""

    def __init__(self, engine: ExpressionEngine) -> None:
        self.engine = engine
        self.env = engine.env
        self.split = functools.lru_cache(maxsize=8192)(self._split)
        self.parse = functools.lru_cache(maxsize=8192)(self._parse)

    # -- splitting and parsing -------------------------------------------------------------

    def _split(self, source: str) -> tuple[list[tuple[str, str]], str | None]:
        """``(parts, error)``: the engine's own split (``("text", s)`` / ``("expr", text)``)."""
        try:
            return self.engine.split(source), None
        except ExpressionError as exc:
            return [], exc.problem

    def _parse(self, text: str) -> nodes.Expr | str:
        """The expression's AST, or the syntax error's message."""
        if not text.strip():
            return "the expression is empty"
        try:
            parser = Parser(self.env, text, state="variable")
            node = parser.parse_expression()
            if not parser.stream.eos:
                token = parser.stream.current
                return f"unexpected '{token.value}' after the expression"
            return node
        except TemplateSyntaxError as exc:
            return exc.message or "syntax error"

    # -- checking --------------------------------------------------------------------------

    def check_text(self, source: str, names: Names) -> list[Issue]:
        """Every expression of one string value."""
        if EXPRESSION_START not in source:
            return []
        parts, error = self.split(source)
        if error:
            return [Issue("expression-syntax", error, 0)]
        issues: list[Issue] = []
        nth = 0
        for kind, text in parts:
            if kind != "expr":
                continue
            issues.extend(self.check_expression(text, names, nth))
            nth += 1
        return issues

    def check_expression(self, text: str, names: Names, nth: int | None) -> list[Issue]:
        node = self.parse(text)
        if isinstance(node, str):
            return [Issue("expression-syntax", f"'${{{{ {text.strip()} }}}}': {node}", nth)]
        found: list[tuple[str, str]] = []
        self._visit(node, names, found)
        return [Issue(rule, f"'${{{{ {text.strip()} }}}}': {message}", nth) for rule, message in found]

    def _visit(self, node: nodes.Node, names: Names, found: list[tuple[str, str]]) -> None:
        if isinstance(node, nodes.Name | nodes.Getattr | nodes.Getitem):
            root, keys, rest = _chain(node)
            if root is not None:
                problem = resolve(root, keys, names, self.env)
                if problem:
                    found.append(problem)
            for item in rest:
                self._visit(item, names, found)
            return
        if isinstance(node, nodes.Filter):
            problem = check_filter(self.env, node)
            if problem:
                found.append(problem)
            target = node.node
            if node.name in ("default", "d") and target is not None:
                root, _, rest = _chain(target)
                if root is not None and root not in names and root not in self.env.globals:
                    problem = resolve(root, [], names, self.env)
                    if problem:
                        found.append(problem)
                for item in rest:
                    self._visit(item, names, found)
                target = None
            for child in [target, *node.args, *(kw.value for kw in node.kwargs)]:
                if child is not None:
                    self._visit(child, names, found)
            return
        if isinstance(node, nodes.Test):
            problem = check_test(self.env, node)
            if problem:
                found.append(problem)
            if node.name in ("defined", "undefined"):
                return
            for child in [node.node, *node.args, *(kw.value for kw in node.kwargs)]:
                self._visit(child, names, found)
            return
        if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Getattr):
            # a method call on a value (``x.get('a')``): the method is not a key
            self._visit(node.node.node, names, found)
            for child in [*node.args, *(kw.value for kw in node.kwargs)]:
                self._visit(child, names, found)
            return
        for child in node.iter_child_nodes():
            self._visit(child, names, found)


def _chain(node: nodes.Node) -> tuple[str | None, list[Any], list[nodes.Node]]:
    """``a.b['c'][x].d`` -> (``a``, [``b``, ``c``], [``x``]): the constant prefix of a chain."""
    keys: list[Any] = []
    rest: list[nodes.Node] = []
    while True:
        if isinstance(node, nodes.Getattr):
            keys.insert(0, node.attr)
            node = node.node
        elif isinstance(node, nodes.Getitem):
            if isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str | int):
                keys.insert(0, node.arg.value)
            else:
                keys.clear()
                rest.append(node.arg)
            node = node.node
        elif isinstance(node, nodes.Name):
            return node.name, keys, rest
        else:
            rest.append(node)
            return None, keys, rest


def resolve(root: str, keys: list[Any], names: Names, env: Any) -> tuple[str, str] | None:
    """The (rule, message) when ``root.keys...`` is not there at this place, else None."""
    shape = names.get(root)
    if shape is None:
        if root in env.globals:
            return None
        where = BOUND_ELSEWHERE.get(root)
        if where:
            return "unknown-name", f"'{root}' is not set here, only {where} (names here: {listing(names)})"
        return (
            "unknown-name",
            f"unknown name '{root}'{did_you_mean(root, names)} (names here: {listing(names)})",
        )
    dotted = root
    for key in keys:
        if shape.keys is None or not isinstance(key, str):
            return None
        if key not in shape.keys:
            label = shape.label or f"'{dotted}'"
            why = shape.unavailable.get(key)
            if why:
                return shape.rule, f"'{dotted}.{key}' is not available here: {why}"
            return shape.rule, (
                f"{label} has no '{key}'{did_you_mean(key, shape.keys)} (available: {listing(shape.keys)})"
            )
        dotted = f"{dotted}.{key}"
        shape = shape.keys[key]
    return None
