"""runwright: a lightweight, metadata-driven workflow orchestrator.

The public names are imported on first use (PEP 562), so ``import runwright`` and commands that
need only part of the package (``runwright --help``, a plugin importing ``hookimpl``) do not pay
for the models, the engine and the scheduler.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runwright.engine.result import Result, Status
    from runwright.errors import RunwrightError
    from runwright.hookspecs import hookimpl
    from runwright.models.schedule import Schedule
    from runwright.models.workflow import Workflow
    from runwright.registry import custom_filter, tag

__version__ = "0.1.0"  # equal to core/pyproject.toml's version: tests/test_cli_output.py checks it

_LAZY_NAMES = {
    "Result": "runwright.engine.result",
    "Status": "runwright.engine.result",
    "RunwrightError": "runwright.errors",
    "Schedule": "runwright.models.schedule",
    "Workflow": "runwright.models.workflow",
    "custom_filter": "runwright.registry",
    "hookimpl": "runwright.hookspecs",
    "tag": "runwright.registry",
}

__all__ = [
    "Result",
    "RunwrightError",
    "Schedule",
    "Status",
    "Workflow",
    "custom_filter",
    "hookimpl",
    "tag",
    "__version__",
]


def __getattr__(name: str) -> Any:
    module = _LAZY_NAMES.get(name)
    if module is None:
        raise AttributeError(f"module 'runwright' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
