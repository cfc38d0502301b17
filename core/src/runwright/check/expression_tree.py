"""The jinja2 AST side of the expression check: every name chain, filter and test of a parsed
expression (imported only for expressions that are more than a plain dotted name)."""

from __future__ import annotations

from typing import Any

from jinja2 import nodes

from runwright.check.expressions import Names, resolve
from runwright.check.filters import check_filter, check_test


def find_problems(node: nodes.Node, names: Names, env: Any, found: list[tuple[str, str]]) -> None:
    """Append to ``found`` the (rule, message) of each name, filter and test ``node`` gets wrong."""
    if isinstance(node, nodes.Name | nodes.Getattr | nodes.Getitem):
        root, keys, rest = _chain(node)
        if root is not None:
            problem = resolve(root, keys, names, env)
            if problem:
                found.append(problem)
        for item in rest:
            find_problems(item, names, env, found)
        return
    if isinstance(node, nodes.Filter):
        problem = check_filter(env, node)
        if problem:
            found.append(problem)
        target = node.node
        if node.name in ("default", "d") and target is not None:
            root, _, rest = _chain(target)
            if root is not None and root not in names and root not in env.globals:
                problem = resolve(root, [], names, env)
                if problem:
                    found.append(problem)
            for item in rest:
                find_problems(item, names, env, found)
            target = None
        for child in [target, *node.args, *(kw.value for kw in node.kwargs)]:
            if child is not None:
                find_problems(child, names, env, found)
        return
    if isinstance(node, nodes.Test):
        problem = check_test(env, node)
        if problem:
            found.append(problem)
        if node.name in ("defined", "undefined"):
            return
        for child in [node.node, *node.args, *(kw.value for kw in node.kwargs)]:
            find_problems(child, names, env, found)
        return
    if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Getattr):
        # a method call on a value (``x.get('a')``): the method is not a key
        find_problems(node.node.node, names, env, found)
        for child in [*node.args, *(kw.value for kw in node.kwargs)]:
            find_problems(child, names, env, found)
        return
    for child in node.iter_child_nodes():
        find_problems(child, names, env, found)


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
