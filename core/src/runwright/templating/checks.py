"""Compile every ``${{ }}`` of a template before it runs, so ``validate`` reports a broken
expression (an unclosed ``${{``, a syntax error, an unknown filter) with its place."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runwright.errors import ExpressionError, Problem
from runwright.loader import error_path
from runwright.templating.engine import EXPRESSION_START, ExpressionEngine


def expression_problems(raw: Any, engine: ExpressionEngine) -> list[Problem]:
    """One problem per string of ``raw`` whose expressions do not compile."""
    problems: list[Problem] = []

    def walk(value: Any, path: list[Any]) -> None:
        if isinstance(value, str):
            if EXPRESSION_START in value:
                try:
                    engine.compile(value)
                except ExpressionError as exc:
                    problems.append(Problem(error_path(path), str(exc)))
        elif isinstance(value, Mapping):
            for key, item in value.items():
                walk(item, [*path, str(key)])
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, [*path, index])

    walk(raw, [])
    return problems
