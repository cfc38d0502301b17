"""Filters and tests in expressions: they exist and accept the arguments given."""

from __future__ import annotations

import functools
import inspect
from typing import Any

from jinja2 import nodes
from jinja2.utils import _PassArg

from runwright.check.issues import did_you_mean


def check_filter(env: Any, node: nodes.Filter) -> tuple[str, str] | None:
    func = env.filters.get(node.name)
    if func is None:
        return "unknown-filter", f"unknown filter '{node.name}'{did_you_mean(node.name, env.filters)}"
    return _arguments("filter", node, func, "filter-arguments")


def check_test(env: Any, node: nodes.Test) -> tuple[str, str] | None:
    func = env.tests.get(node.name)
    if func is None:
        return "unknown-test", f"unknown test '{node.name}'{did_you_mean(node.name, env.tests)}"
    return _arguments("test", node, func, "test-arguments")


def _arguments(what: str, node: Any, func: Any, rule: str) -> tuple[str, str] | None:
    """Bind placeholders the way jinja2 will call the function: value first, then args."""
    if node.dyn_args is not None or node.dyn_kwargs is not None:
        return None
    try:
        signature = _signature(func)
    except TypeError:  # an unhashable callable: not cached
        try:
            signature = inspect.signature(func)
        except (TypeError, ValueError):
            return None
    except ValueError:
        return None
    leading = [None] if _PassArg.from_obj(func) is not None else []
    args = [*leading, None, *([None] * len(node.args))]
    kwargs = {kw.key: None for kw in node.kwargs}
    try:
        signature.bind(*args, **kwargs)
    except TypeError as exc:
        return (
            rule,
            f"{what} '{node.name}' does not accept these arguments: {exc} "
            f"(signature: {node.name}{signature})",
        )
    return None


@functools.lru_cache(maxsize=1024)
def _signature(func: Any) -> inspect.Signature:
    """A filter's or test's signature, read once: the same few are used in every template."""
    return inspect.signature(func)
