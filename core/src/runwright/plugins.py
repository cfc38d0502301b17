"""The plugin manager: built-in plugins first, then entry points, then ``check_pending()``.

Built in a function, never at import, so every test (and every embedding program) can make a
fresh one. ``RUNWRIGHT_DISABLE_PLUGIN_AUTOLOAD=1`` skips entry points;
``RUNWRIGHT_TRACE_PLUGINS=1`` prints every hook call to stderr.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pluggy

from runwright import hookspecs
from runwright.config import Settings
from runwright.registry import RegistryPackagesPlugin

ENTRY_POINT_GROUP = "runwright"

BUILTIN_PLUGIN_MODULES = (
    "runwright.stages.echo",
    "runwright.stages.bash",
    "runwright.stages.py",
    "runwright.stages.py_venv",
    "runwright.stages.call",
    "runwright.stages.raise_",
    "runwright.stages.parallel",
    "runwright.stages.foreach",
    "runwright.stages.case",
    "runwright.stages.until",
    "runwright.stages.trigger",
    "runwright.templating.filters",
    "runwright.engine.executors",
)


def get_plugin_manager(
    settings: Settings | None = None, *, extra_plugins: tuple[Any, ...] = ()
) -> pluggy.PluginManager:
    """A new manager with the built-in plugins, the registry packages and entry points."""
    settings = settings or Settings.from_env()
    pm = pluggy.PluginManager("runwright")
    pm.add_hookspecs(hookspecs)
    for module_name in BUILTIN_PLUGIN_MODULES:
        pm.register(importlib.import_module(module_name), name=module_name)
    pm.register(RegistryPackagesPlugin(settings.registry_packages), name="runwright.registry")
    for plugin in extra_plugins:
        pm.register(plugin)
    if not settings.disable_plugin_autoload:
        pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    pm.check_pending()
    if settings.trace_plugins:
        pm.trace.root.setwriter(lambda message: sys.stderr.write(message))
        pm.enable_tracing()
    return pm


@dataclass
class PluginInfo:
    """What ``runwright plugins`` shows for one plugin."""

    name: str
    distribution: str
    version: str
    hooks: list[str]
    provides: dict[str, list[str]] = field(default_factory=dict)


REGISTER_HOOKS: dict[str, tuple[str, Callable[..., str]]] = {
    "register_stage_types": ("stage types", lambda cls: cls.kind),
    "register_filters": ("filters", lambda name, func: name),
    "register_executors": ("executors", lambda name, factory: name),
}
LIST_HOOKS: dict[str, tuple[str, Callable[[Any], str]]] = {
    "list_calls": ("calls", lambda call: call.reference),
    "audit_backend_schemes": ("audit backends", str),
}


def describe_plugins(pm: pluggy.PluginManager) -> list[PluginInfo]:
    """Each loaded plugin with its distribution, version, hooks and what it registers."""
    import runwright

    dists = {id(plugin): dist for plugin, dist in pm.list_plugin_distinfo()}
    infos = []
    for name, plugin in sorted(pm.list_name_plugin(), key=lambda item: str(item[0])):
        if plugin is None:
            continue
        dist = dists.get(id(plugin))
        hooks = sorted(caller.name for caller in pm.get_hookcallers(plugin) or [])
        infos.append(
            PluginInfo(
                name=str(name),
                distribution=dist.project_name if dist else "runwright (built-in)",
                version=dist.version if dist else runwright.__version__,
                hooks=hooks,
                provides=_provided_by(pm, plugin, hooks),
            )
        )
    return infos


def _provided_by(pm: pluggy.PluginManager, plugin: Any, hooks: list[str]) -> dict[str, list[str]]:
    """Call each of the plugin's hooks alone (pluggy's subset caller) and note what it gives."""
    others = [p for p in pm.get_plugins() if p is not plugin]
    provides: dict[str, list[str]] = {}
    for hook, (label, pick) in REGISTER_HOOKS.items():
        if hook in hooks:
            found: list[str] = []
            caller = pm.subset_hook_caller(hook, remove_plugins=others)
            caller(register=lambda *args, _found=found, _pick=pick: _found.append(_pick(*args)))
            provides[label] = found
    for hook, (label, pick) in LIST_HOOKS.items():
        if hook in hooks:
            caller = pm.subset_hook_caller(hook, remove_plugins=others)
            provides[label] = [pick(item) for group in caller() for item in group]
    return provides
