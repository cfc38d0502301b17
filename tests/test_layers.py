"""The packages of runwright form one-way layers (docs/architecture.md): a module imports only from
its own layer or the ones below, at the top of the file or inside a function alike. The few
exceptions are thin facades on the models (``Workflow.execute()`` runs the engine) and process entry
points, each listed with its reason. Imports under ``if TYPE_CHECKING:`` are annotations only."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "core" / "src" / "runwright"

#: Bottom to top. The first part of a module's name below ``runwright`` says its layer.
LAYERS: list[set[str]] = [
    {"", "errors", "config", "masking", "console", "trace", "hookspecs", "plugin_index", "state", "shutdown", "spelling", "secret_sources", "heap"},  # no dependencies
    {"models", "templating", "registry"},  # templates as data + validation; expressions; calls
    {"loader", "conf_index", "check"},  # conf files -> models (through the index); static checks
    {"engine", "stages"},  # running one workflow
    {"runtime", "plugins"},  # what the plugins registered, shared by runs
    {"audit", "schedule", "schema"},  # releases, records, the scheduler
    {"cli", "__main__"},  # the command line
]

#: (module, function) -> why it may import from a layer above its own.
UPWARD_IMPORTS: dict[tuple[str, str], str] = {
    ("models.workflow", "from_conf"): "facade: Workflow.from_conf() loads through the loader",
    ("models.workflow", "runtime"): "facade: a workflow built without a runtime uses the default one",
    ("models.workflow", "execute"): "facade: Workflow.execute() is engine.runner.run_workflow()",
    ("models.workflow", "start"): "facade: Workflow.start() is engine.runner.start_workflow()",
    ("models.workflow", "release"): "facade: Workflow.release() is schedule.release.release()",
    ("models.schedule", "from_conf"): "facade: Schedule.from_conf() loads through the loader",
    ("models.schedule", "pending"): "facade: Schedule.pending() is the scheduler limited to this schedule",
    ("engine.job_task", "_workflow_for"): "entry point of a worker process: it builds its own runtime",
}
FACADE_MAX_STATEMENTS = 6


@dataclass(frozen=True)
class ImportLine:
    module: str  # the importing module, below runwright (``models.workflow``)
    function: str | None  # the function it is in; None at module level
    target: str  # the imported module, below runwright
    line: int


def layer_of(module: str) -> int:
    head = module.split(".")[0]
    for number, layer in enumerate(LAYERS):
        if head in layer:
            return number
    raise AssertionError(f"runwright.{module} is in no layer: add its package to LAYERS")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def runwright_imports(path: Path) -> list[ImportLine]:
    """Every ``import runwright.x`` / ``from runwright.x import y`` outside ``if TYPE_CHECKING``."""
    module = module_name(path)
    found: list[ImportLine] = []

    def visit(node: ast.AST, function: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                for other in child.orelse:
                    visit(other, function)
                continue
            names: list[str] = []
            if isinstance(child, ast.Import):
                names = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                names = [child.module]
            for name in names:
                if name == "runwright" or name.startswith("runwright."):
                    found.append(ImportLine(module, function, name.removeprefix("runwright").lstrip("."), child.lineno))
            inner = child.name if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) else function
            visit(child, inner if function is None else function)

    visit(ast.parse(path.read_text(encoding="utf-8")), None)
    return found


def all_imports() -> list[ImportLine]:
    return [line for path in sorted(PACKAGE.rglob("*.py")) for line in runwright_imports(path)]


def test_every_import_points_to_the_same_layer_or_below() -> None:
    upward = [
        f"runwright.{line.module}:{line.line} ({line.function or 'module level'}) imports runwright.{line.target}"
        for line in all_imports()
        if layer_of(line.target) > layer_of(line.module)
        and (line.module, line.function or "") not in UPWARD_IMPORTS
    ]
    assert upward == []


def test_models_import_nothing_but_models_and_the_base_layer_outside_their_facades() -> None:
    allowed = LAYERS[0] | {"models"}
    reaching = [
        f"runwright.{line.module}:{line.line} imports runwright.{line.target}"
        for line in all_imports()
        if line.module.startswith("models")
        and line.target.split(".")[0] not in allowed
        and (line.module, line.function or "") not in UPWARD_IMPORTS
    ]
    assert reaching == []


def test_each_facade_is_thin_and_still_exists() -> None:
    """A listed facade delegates in a few statements; a stale entry in the list is an error too."""
    for (module, function), reason in UPWARD_IMPORTS.items():
        path = PACKAGE / (module.replace(".", "/") + ".py")
        tree = ast.parse(path.read_text(encoding="utf-8"))
        defs = [
            node for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == function
        ]
        assert defs, f"{module}.{function} ({reason}) no longer exists: remove it from UPWARD_IMPORTS"
        if reason.startswith("facade"):
            body = [statement for statement in defs[0].body if not _is_docstring(statement)]
            assert len(body) <= FACADE_MAX_STATEMENTS, f"{module}.{function} is no longer a thin facade"


def test_top_level_imports_have_no_cycle() -> None:
    """Importing any module never needs a module that is still half-imported."""
    import graphlib

    graph: dict[str, set[str]] = {}
    for line in all_imports():
        if line.function is None and line.target != line.module:
            graph.setdefault(line.module, set()).add(line.target)
    graphlib.TopologicalSorter(graph).prepare()  # raises CycleError naming the cycle


def _is_docstring(statement: ast.stmt) -> bool:
    return isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant)
