"""Names inside ``${{ }}``: parse with jinja2's own parser and resolve every name chain.

The value is split exactly as the expression engine splits it (jinja's lexer, hyphenated
names joined the same way), each expression is parsed into jinja2's AST, and every chain of
``Name``/``Getattr``/``Getitem`` with constant keys is followed through the :class:`Shape` of
what the run will hold at that place (:mod:`runwright.check.expression_tree`). A plain dotted
name (``params.x``) is that chain already: it is resolved without jinja2, as the engine
evaluates it without jinja2.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from runwright.check.issues import Issue, did_you_mean, listing
from runwright.check.scope import BOUND_ELSEWHERE, Shape
from runwright.errors import ExpressionError
from runwright.templating.engine import EXPRESSION_START, ExpressionEngine, dotted_path

if TYPE_CHECKING:
    from jinja2 import nodes

Names = Mapping[str, Shape]


class ExpressionAnalyzer:
    """Parses each distinct expression text once; checks names, filters and tests."""

    def __init__(self, engine: ExpressionEngine) -> None:
        self.engine = engine
        self.split = functools.lru_cache(maxsize=8192)(self._split)
        self.parse = functools.lru_cache(maxsize=8192)(self._parse)

    @property
    def env(self) -> Any:
        """The engine's jinja2 environment (built on first use)."""
        return self.engine.env

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
        from jinja2 import TemplateSyntaxError
        from jinja2.parser import Parser

        from runwright.templating.sandbox import TOO_DEEP

        try:
            self.engine.check_depth(text)
            parser = Parser(self.env, text, state="variable")
            node = parser.parse_expression()
            if not parser.stream.eos:
                token = parser.stream.current
                return f"unexpected '{token.value}' after the expression"
            depth = nesting_depth(node)
            if depth > MAX_NESTED_OPERATIONS:
                return f"{TOO_DEEP} (it nests {depth} operations, at most {MAX_NESTED_OPERATIONS})"
            return node
        except ExpressionError as exc:
            return exc.problem
        except TemplateSyntaxError as exc:
            return exc.message or "syntax error"
        except RecursionError:
            return TOO_DEEP

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
        found: list[tuple[str, str]] = []
        path = dotted_path(text)
        if path is not None and path[0] in names:  # the chain itself: no parse needed
            problem = resolve(path[0], list(path[1:]), names, None)
            if problem:
                found.append(problem)
        else:
            node = self.parse(text)
            if isinstance(node, str):
                return [Issue("expression-syntax", f"'${{{{ {text.strip()} }}}}': {node}", nth)]
            from runwright.check.expression_tree import find_problems

            find_problems(node, names, self.env, found)
        return [Issue(rule, f"'${{{{ {text.strip()} }}}}': {message}", nth) for rule, message in found]


MAX_NESTED_OPERATIONS = 100
"""The deepest parsed expression the checker accepts (operations applied to the results of
others: ``not not x``, ``a.b.c``, ``x | f | g``, ``a + b + c``). Every walk of the tree (this
checker's, jinja2's compiler) recurses once per level, and Python refuses about 200 nested
parentheses in the code jinja2 generates; real expressions nest a few levels."""


def nesting_depth(node: nodes.Node) -> int:
    """How many levels deep ``node``'s tree goes (walked without recursion)."""
    deepest = 0
    stack = [(node, 1)]
    while stack:
        current, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in current.iter_child_nodes())
    return deepest


def resolve(root: str, keys: list[Any], names: Names, env: Any) -> tuple[str, str] | None:
    """The (rule, message) when ``root.keys...`` is not there at this place, else None
    (``env``, jinja2's environment, is only read for a root that is not one of ``names``)."""
    shape = names.get(root)
    if shape is None:
        if env is not None and root in env.globals:
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
