"""runwright: a lightweight, metadata-driven workflow orchestrator."""

from __future__ import annotations

from runwright.engine.result import Result, Status
from runwright.errors import RunwrightError
from runwright.hookspecs import hookimpl
from runwright.models.schedule import Schedule
from runwright.models.workflow import Workflow
from runwright.registry import custom_filter, tag

__version__ = "0.1.0"

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
