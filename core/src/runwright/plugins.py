"""The plugin manager: built-in plugins first, then entry points, then ``check_pending()``.

Built in a function, never at import, so every test (and every embedding program) can make a
fresh one. ``RUNWRIGHT_DISABLE_PLUGIN_AUTOLOAD=1`` skips entry points,
``RUNWRIGHT_DISABLE_PLUGINS=a,b`` skips the named ones (entry-point or distribution names);
``RUNWRIGHT_TRACE_PLUGINS=1`` prints every hook call to stderr. A plugin that fails to load is one
:class:`~runwright.errors.PluginLoadError` naming it, its distribution and the cause.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pluggy

from runwright import hookspecs
from runwright.config import Settings
from runwright.errors import PluginLoadError
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
    registry = RegistryPackagesPlugin(settings.registry_packages, required=settings.registry_is_explicit)
    pm.register(registry, name="runwright.registry")
    for plugin in extra_plugins:
        pm.register(plugin)
    if not settings.disable_plugin_autoload:
        _load_entry_points(pm, settings.disabled_plugins)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginLoadError(f"{_plugin_label(pm, exc.plugin)}: {exc}") from exc
    if settings.trace_plugins:
        pm.trace.root.setwriter(lambda message: sys.stderr.write(message))
        pm.enable_tracing()
    return pm


def _group_entry_points() -> list[tuple[importlib.metadata.Distribution, importlib.metadata.EntryPoint]]:
    """The ``runwright`` entry points in the order pluggy loads them."""
    return [
        (dist, ep)
        for dist in importlib.metadata.distributions()
        for ep in dist.entry_points
        if ep.group == ENTRY_POINT_GROUP
    ]


def _load_entry_points(pm: pluggy.PluginManager, disabled: tuple[str, ...]) -> None:
    """pluggy's entry-point loader, minus the disabled plugins, with a one-line error on failure."""
    if disabled:
        for dist, ep in _group_entry_points():
            if ep.name in disabled or dist.metadata["Name"] in disabled:
                pm.set_blocked(ep.name)
    try:
        pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    except Exception as exc:
        # pluggy stopped at the first entry point it could not load or register: name it.
        pending = [(d, ep) for d, ep in _group_entry_points() if not pm.has_plugin(ep.name)]
        failed = next(((d, ep) for d, ep in pending if not pm.is_blocked(ep.name)), None)
        where, name = "a plugin", "NAME"
        if failed is not None:
            dist, ep = failed
            where, name = f"plugin '{ep.name}' ({dist.metadata['Name']} {dist.version})", ep.name
        raise PluginLoadError(
            f"{where} failed to load: {type(exc).__name__}: {exc} "
            f"(fix or uninstall it, or skip it with RUNWRIGHT_DISABLE_PLUGINS={name})"
        ) from exc


def _plugin_label(pm: pluggy.PluginManager, plugin: object) -> str:
    """``plugin 'name' (distribution version)`` for error messages."""
    name = pm.get_name(plugin) or repr(plugin)
    for known, dist in pm.list_plugin_distinfo():
        if known is plugin:
            return f"plugin '{name}' ({dist.project_name} {dist.version})"
    return f"plugin '{name}'"


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
