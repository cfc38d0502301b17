"""``run:``: Python code in a fresh namespace; the top-level names it binds become outputs.

Expressions inside the code are never spliced into it: each ``${{ ... }}`` becomes a variable
``RW_EXPR_n`` bound to its rendered value (inside a string literal, a field reading it as text),
so a param can only ever be data. Outputs are every top-level name the code binds, ``vars:`` it
reassigns included, except modules, functions, classes and ``_`` names.
"""

from __future__ import annotations

import ast
import builtins
import functools
import inspect
import re
import symtable
from collections.abc import Callable
from typing import Any

from pydantic import Field

from runwright.engine.context import StageContext
from runwright.hookspecs import hookimpl
from runwright.models.stage import Stage
from runwright.stages.isolation import Isolation, execute_python
from runwright.templating.python_code import render_python


class PyStage(Stage):
    kind = "run"

    run_: str = Field(alias="run", description="Python source to run.")
    vars: dict[str, Any] = Field(default_factory=dict, description="Names bound before running.")
    isolation: Isolation = Field(
        default="thread",
        description="'thread' (default): a stoppable thread of this process; 'process': a child "
        "process that a cancel or timeout kills outright (outputs come back as JSON).",
    )

    def static_outputs(self, runtime: Any) -> frozenset[str] | None:
        return bound_names(self.run_)

    def run(self, ctx: StageContext) -> dict[str, Any]:
        code, values = render_python(
            ctx.runtime.expressions, self.run_, ctx.variables, f"stage '{self.identity}'"
        )
        namespace: dict[str, Any] = {
            "__builtins__": builtins,
            "__name__": f"runwright_stage_{self.identity.replace('-', '_')}",
            "print": _printer(ctx),
        }
        namespace.update(ctx.render(self.vars))
        namespace.update(values)
        given = set(namespace)
        filename = f"<stage {self.identity}>"
        rebound = given & assigned_names(code, filename)  # vars: the code reassigns
        execute_python(code, namespace, ctx, self.identity, self.isolation)
        return {
            name: value
            for name, value in namespace.items()
            if (name not in given or name in rebound)
            and not name.startswith("_")
            and not inspect.ismodule(value)
            and not inspect.isclass(value)
            and not callable(value)
        }


@functools.lru_cache(maxsize=1024)
def assigned_names(code: str, filename: str) -> frozenset[str]:
    """Names the code's top level assigns (``x = ...``, loops, ``with``, imports...)."""
    table = symtable.symtable(code, filename, "exec")
    return frozenset(
        symbol.get_name() for symbol in table.get_symbols() if symbol.is_assigned() or symbol.is_imported()
    )


_DYNAMIC_NAMESPACE = frozenset({"exec", "eval", "globals", "locals", "vars", "__import__", "__builtins__"})
_EXPRESSION = re.compile(r"\$\{\{.*?\}\}", re.S)


@functools.lru_cache(maxsize=1024)
def bound_names(code: str) -> frozenset[str] | None:
    """The outputs a ``run:`` can bind, read from its AST: names its top level assigns (loop
    and ``with`` targets, ``:=``, ``match`` captures, ``from m import x``), ``_`` names left out.
    None (not known) when the code does not parse or can bind names another way: ``global``,
    ``from m import *``, ``exec``/``eval``/``globals()``/``locals()``/``vars()``."""
    try:
        tree = ast.parse(_EXPRESSION.sub("None", code))
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.Global | ast.Nonlocal):
            return None
        if isinstance(node, ast.ImportFrom) and any(alias.name == "*" for alias in node.names):
            return None
        if isinstance(node, ast.Name) and node.id in _DYNAMIC_NAMESPACE:
            return None
    names: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
                continue  # their own scope (and a def/class name is not an output)
            if isinstance(child, ast.comprehension):
                for part in (child.iter, *child.ifs):  # its target is the comprehension's own
                    visit_node(part)
                continue
            if isinstance(child, ast.Name) and isinstance(child.ctx, ast.Store):
                names.add(child.id)
            elif isinstance(child, ast.MatchAs | ast.MatchStar) and child.name:
                names.add(child.name)
            elif isinstance(child, ast.MatchMapping) and child.rest:
                names.add(child.rest)
            elif isinstance(child, ast.ImportFrom):
                names.update(alias.asname or alias.name for alias in child.names)
            visit(child)

    def visit_node(node: ast.AST) -> None:
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        visit(node)

    visit(tree)
    return frozenset(name for name in names if not name.startswith("_"))


def _printer(ctx: StageContext) -> Callable[..., None]:
    def emit(*args: Any, sep: str = " ", end: str = "\n", **_: Any) -> None:
        ctx.log(sep.join(str(a) for a in args), event="stdout")

    return emit


@hookimpl
def register_stage_types(register: Callable[[type], None]) -> None:
    register(PyStage)
