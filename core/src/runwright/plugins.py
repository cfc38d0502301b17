"""The plugin manager: built-in plugins first, then entry points, then ``check_pending()``.

Built in a function, never at import, so every test (and every embedding program) can make a
fresh one. ``RUNWRIGHT_DISABLE_PLUGIN_AUTOLOAD=1`` skips entry points;
``RUNWRIGHT_TRACE_PLUGINS=1`` prints every hook call to stderr.
"""

from __future__ import annotations

import importlib
import sys
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
    "runwright.stages.call",
    "runwright.stages.raise_",
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


def describe_plugins(pm: pluggy.PluginManager) -> list[PluginInfo]:
    """Each loaded plugin with its distribution, version, hooks and what it registers."""
    import runwright

    dists = {id(plugin): dist for plugin, dist in pm.list_plugin_distinfo()}
    infos = []
    for name, plugin in sorted(pm.list_name_plugin(), key=lambda item: str(item[0])):
        if plugin is None:
            continue
        dist = dists.get(id(plugin))
        callers = pm.get_hookcallers(plugin) or []
        others = [p for p in pm.get_plugins() if p is not plugin]
        provides: dict[str, list[str]] = {}

        def only(hook_name: str) -> Any:
            return pm.subset_hook_caller(hook_name, remove_plugins=others)

        hook_names = sorted(caller.name for caller in callers)
        if "register_stage_types" in hook_names:
            kinds: list[str] = []
            only("register_stage_types")(register=lambda cls: kinds.append(cls.kind))
            provides["stage types"] = kinds
        if "register_filters" in hook_names:
            names: list[str] = []
            only("register_filters")(register=lambda n, f: names.append(n))
            provides["filters"] = names
        if "register_executors" in hook_names:
            execs: list[str] = []
            only("register_executors")(register=lambda n, f: execs.append(n))
            provides["executors"] = execs
        if "list_calls" in hook_names:
            calls = [c.reference for group in only("list_calls")() for c in group]
            provides["calls"] = calls
        if "audit_backend_schemes" in hook_names:
            provides["audit backends"] = [s for group in only("audit_backend_schemes")() for s in group]
        infos.append(
            PluginInfo(
                name=str(name),
                distribution=dist.project_name if dist else "runwright (built-in)",
                version=dist.version if dist else runwright.__version__,
                hooks=hook_names,
                provides=provides,
            )
        )
    return infos
