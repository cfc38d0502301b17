"""The plugin manager: built-in plugins first, then entry points, then ``check_pending()``.

Built in a function, never at import, so every test (and every embedding program) can make a
fresh one. ``RUNWRIGHT_DISABLE_PLUGIN_AUTOLOAD=1`` skips entry points,
``RUNWRIGHT_DISABLE_PLUGINS=a,b`` skips the named ones (entry-point or distribution names);
``RUNWRIGHT_TRACE_PLUGINS=1`` prints every hook call to stderr. A plugin that fails to load is one
:class:`~runwright.errors.PluginLoadError` naming it, its distribution and the cause.
"""

from __future__ import annotations

import functools
import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pluggy

from runwright import hookspecs
from runwright.config import PluginSwitches, Settings
from runwright.errors import PluginLoadError
from runwright.plugin_index import CLI_HOOK, ENTRY_POINT_GROUP, PluginEntryPoint, PluginIndex  # noqa: F401 - re-exported
from runwright.stages import BUILTIN_STAGE_MODULES

BUILTIN_PLUGIN_MODULES = (
    *BUILTIN_STAGE_MODULES.values(),
    "runwright.templating.filters",
    "runwright.engine.executors",
    "runwright.engine.notify",
    "runwright.secret_sources",
)


class RunwrightPluginManager(pluggy.PluginManager):
    """pluggy's manager plus, for each entry-point plugin, the distribution that provides it."""

    def __init__(self) -> None:
        super().__init__("runwright")
        self.add_hookspecs(hookspecs)
        #: plugin name -> (distribution name, version), for entry-point plugins.
        self.distributions: dict[str, tuple[str, str]] = {}
        #: The plugin cache the entry-point plugins were loaded from (None: autoload is off).
        self.index: PluginIndex | None = None


def get_plugin_manager(
    settings: Settings | None = None,
    *,
    extra_plugins: tuple[Any, ...] = (),
    stage_kinds_on_demand: bool = False,
) -> pluggy.PluginManager:
    """A new manager with the built-in plugins, the registry packages and entry points.

    With ``stage_kinds_on_demand`` the built-in stage kinds' modules are left out: a
    :class:`~runwright.runtime.Runtime` registers each one when a template first uses its key.
    """
    from runwright.registry import RegistryPackagesPlugin

    settings = settings or Settings.from_env()
    pm = RunwrightPluginManager()
    on_demand = set(BUILTIN_STAGE_MODULES.values()) if stage_kinds_on_demand else set()
    for module_name in BUILTIN_PLUGIN_MODULES:
        if module_name not in on_demand:
            pm.register(importlib.import_module(module_name), name=module_name)
    registry = RegistryPackagesPlugin(settings.registry_packages, required=settings.registry_is_explicit)
    pm.register(registry, name="runwright.registry")
    for plugin in extra_plugins:
        pm.register(plugin)
    if not settings.plugins.disable_plugin_autoload:
        _load_entry_points(pm, settings.plugins.disabled_plugins)
    return _checked(pm, settings.plugins.trace_plugins)


def get_cli_plugin_manager(switches: PluginSwitches | None = None) -> pluggy.PluginManager:
    """A manager with only the entry-point plugins that add CLI commands (``register_cli_commands``).

    The command line's help and dispatch need nothing else, so the stage kinds, filters and audit
    backends are not imported for them.
    """
    switches = switches or PluginSwitches.from_env()
    pm = RunwrightPluginManager()
    if not switches.disable_plugin_autoload:
        _load_entry_points(pm, switches.disabled_plugins, needed_hook=CLI_HOOK)
    return _checked(pm, switches.trace_plugins)


def remember_cli_commands(
    pm: RunwrightPluginManager, commands_by_plugin: dict[str, list[dict[str, Any]]]
) -> None:
    """Keep in the plugin cache ``pm`` was loaded from what each entry-point plugin added to the
    command line (name and help of each command), so the next help page lists them without
    loading any plugin."""
    if pm.index is None:
        return
    for name, commands in commands_by_plugin.items():
        pm.index.learn_commands(name, commands)
    pm.index.save()


def hook_alone(pm: pluggy.PluginManager, plugin: object, hook: str) -> pluggy.HookCaller:
    """``hook`` as ``plugin`` alone implements it (pluggy's subset caller without every other
    plugin): to learn what one plugin registers."""
    others = [other for other in pm.get_plugins() if other is not plugin]
    return pm.subset_hook_caller(hook, remove_plugins=others)


def _checked(pm: RunwrightPluginManager, trace_plugins: bool) -> RunwrightPluginManager:
    """Every hook implementation must match a hookspec (a misspelt hook is an error, not ignored)."""
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginLoadError(f"{_plugin_label(pm, exc.plugin)}: {exc}") from exc
    if trace_plugins:
        pm.trace.root.setwriter(lambda message: sys.stderr.write(message))
        pm.enable_tracing()
    return pm


def _load_entry_points(
    pm: RunwrightPluginManager, disabled: tuple[str, ...], needed_hook: str | None = None
) -> None:
    """Import and register the entry-point plugins (cached list), minus the disabled ones.

    With ``needed_hook``, only the plugins known to implement it (or not known yet) are imported.
    A plugin that fails to load is one error naming it and its distribution.
    """
    index = pm.index = PluginIndex.load()
    for name in index.blocked_names(disabled):
        pm.set_blocked(name)
    for entry in index.selected(disabled, needed_hook):
        if pm.get_plugin(entry.name) is not None:
            continue  # a plugin of that name was registered otherwise
        try:
            plugin = _load_entry_point(entry)
            pm.register(plugin, name=entry.name)
        except Exception as exc:
            raise PluginLoadError(
                f"plugin '{entry.name}' ({entry.distribution} {entry.version}) failed to load: "
                f"{type(exc).__name__}: {exc} "
                f"(fix or uninstall it, or skip it with RUNWRIGHT_DISABLE_PLUGINS={entry.name})"
            ) from exc
        pm.distributions[entry.name] = (entry.distribution, entry.version)
        index.learn_hooks(entry.name, [caller.name for caller in pm.get_hookcallers(plugin) or []])
    index.save()


def _load_entry_point(entry: PluginEntryPoint) -> Any:
    """``module`` or ``module:attribute.path`` (extras ``[...]`` aside), as
    ``importlib.metadata.EntryPoint.load`` reads it, without importing ``importlib.metadata`` (nor
    ``pkgutil``: every command loads plugins)."""
    value = "".join(entry.value.split("[", 1)[0].split())  # "a : b" is "a:b"
    module, _, attributes = value.partition(":")
    return functools.reduce(getattr, filter(None, attributes.split(".")), importlib.import_module(module))


def _plugin_label(pm: pluggy.PluginManager, plugin: object) -> str:
    """``plugin 'name' (distribution version)`` for error messages."""
    name = pm.get_name(plugin) or repr(plugin)
    dist = _distribution(pm, name)
    return f"plugin '{name}' ({dist[0]} {dist[1]})" if dist else f"plugin '{name}'"


def _distribution(pm: pluggy.PluginManager, name: str) -> tuple[str, str] | None:
    """(distribution, version) of an entry-point plugin; None for built-in and added ones."""
    return getattr(pm, "distributions", {}).get(name)


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

    infos = []
    for name, plugin in sorted(pm.list_name_plugin(), key=lambda item: str(item[0])):
        if plugin is None:
            continue
        dist = _distribution(pm, str(name))
        hooks = sorted(caller.name for caller in pm.get_hookcallers(plugin) or [])
        infos.append(
            PluginInfo(
                name=str(name),
                distribution=dist[0] if dist else "runwright (built-in)",
                version=dist[1] if dist else runwright.__version__,
                hooks=hooks,
                provides=_provided_by(pm, plugin, hooks),
            )
        )
    return infos


def _provided_by(pm: pluggy.PluginManager, plugin: Any, hooks: list[str]) -> dict[str, list[str]]:
    """Call each of the plugin's hooks alone (pluggy's subset caller) and note what it gives."""
    provides: dict[str, list[str]] = {}
    for hook, (label, pick) in REGISTER_HOOKS.items():
        if hook in hooks:
            found: list[str] = []
            caller = hook_alone(pm, plugin, hook)
            caller(register=lambda *args, _found=found, _pick=pick: _found.append(_pick(*args)))
            provides[label] = found
    for hook, (label, pick) in LIST_HOOKS.items():
        if hook in hooks:
            provides[label] = [pick(item) for group in hook_alone(pm, plugin, hook)() for item in group]
    return provides
