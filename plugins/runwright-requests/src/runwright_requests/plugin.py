"""The runwright entry point of this distribution: resolves `tasks/<name>@requests`."""

from __future__ import annotations

from typing import Any

from runwright import hookimpl
from runwright.registry import CallRegistry

registry = CallRegistry.from_modules({"tasks": "runwright_requests.tasks"})


@hookimpl
def resolve_call(module: str, name: str, tag: str) -> Any:
    """The call function for `module/name@tag`, or None when this plugin has none."""
    return registry.resolve(module, name, tag)


@hookimpl
def list_calls() -> Any:
    """Every call function this plugin offers (for `runwright calls` listings)."""
    return registry.list()
