"""The runtime: what the plugins registered, collected once and shared by every run.

A Runtime holds the plugin manager, the stage kinds, the filters and their compiled expression
engine, the executors and a cache of resolved ``uses:`` references. ``Runtime.default()`` is the
process's shared one; tests build their own with ``Runtime(get_plugin_manager(...))``.
"""

from __future__ import annotations

import functools
import importlib
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy
from pydantic import BaseModel

from runwright.config import Settings
from runwright.console import install_console_streams
from runwright.engine.context import sweep_stale_run_dirs
from runwright.errors import RunCancelled, RunwrightError
from runwright.masking import register_environment_secrets
from runwright.models.stage import Stage
from runwright.plugins import get_plugin_manager, hook_alone
from runwright.registry import CallFunction, parse_uses, unresolved_call_error
from runwright.secret_sources import SecretLookup, conf_folder
from runwright.shutdown import freeze_collector_at_exit
from runwright.stages import BUILTIN_STAGE_MODULES

if TYPE_CHECKING:
    import asyncio

    from runwright.templating.engine import ExpressionEngine


class StageKinds(Mapping[str, "type[Stage]"]):
    """The stage kinds by key: those plugins registered, and the built-in ones, each imported
    and registered (as a plugin, through ``register_stage_types``) when it is first looked up."""

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self._pm = pm
        self._kinds: dict[str, type[Stage]] = {}
        self._on_demand = {
            kind: module
            for kind, module in BUILTIN_STAGE_MODULES.items()
            if pm.get_plugin(module) is None and not pm.is_blocked(module)
        }
        self._lock = threading.RLock()
        self.raw_text_fields: frozenset[str] = frozenset()

    def register(self, cls: type[Stage]) -> None:
        """``register_stage_types``'s callback: one kind, its key claimed by no other class."""
        if not (isinstance(cls, type) and issubclass(cls, Stage)) or not cls.kind:
            raise RunwrightError(f"stage type {cls!r} must subclass Stage and set 'kind'")
        with self._lock:
            if cls.kind in self._on_demand:
                self._load(cls.kind)  # a plugin claims a built-in key: the same clash as eagerly
            existing = self._kinds.get(cls.kind)
            if existing is not None and existing is not cls:
                raise RunwrightError(
                    f"two stage types claim the key '{cls.kind}': "
                    f"{existing.__module__}.{existing.__name__} and {cls.__module__}.{cls.__name__}"
                )
            self._kinds[cls.kind] = cls
            self.raw_text_fields = self.raw_text_fields | frozenset(cls.raw_text_fields)

    def _load(self, kind: str) -> None:
        """Import a built-in kind's module, register it as a plugin and let it register its kinds."""
        with self._lock:
            module_name = self._on_demand.pop(kind, None)
            if module_name is None:
                return
            module = importlib.import_module(module_name)
            self._pm.register(module, name=module_name)
            hook_alone(self._pm, module, "register_stage_types")(register=self.register)

    def load_named_in(self, raw: Any) -> None:
        """Register every built-in kind whose key appears in a raw (parsed YAML) template."""
        if not self._on_demand:
            return
        pending = [raw]
        while pending:
            item = pending.pop()
            if isinstance(item, dict | Mapping):  # dict first: parsed YAML; the ABC check is slow
                for key, value in item.items():
                    if key in self._on_demand:
                        self._load(key)
                    if not isinstance(value, str) and isinstance(value, dict | Mapping | list):
                        pending.append(value)
            elif isinstance(item, list):
                pending.extend(value for value in item if isinstance(value, dict | Mapping | list))

    def __getitem__(self, kind: str) -> type[Stage]:
        found = self._kinds.get(kind)
        if found is None:
            with self._lock:  # waits for a kind another thread is loading
                if kind in self._on_demand:
                    self._load(kind)
                found = self._kinds.get(kind)
        if found is None:
            raise KeyError(kind)
        return found

    def __contains__(self, kind: object) -> bool:
        if kind in self._kinds or kind in self._on_demand:
            return True
        with self._lock:  # a kind another thread is loading is in neither dict for a moment
            return kind in self._kinds or kind in self._on_demand

    def __iter__(self) -> Iterator[str]:
        with self._lock:
            return iter([*self._kinds, *self._on_demand])

    def __len__(self) -> int:
        with self._lock:
            return len(self._kinds) + len(self._on_demand)


class Runtime:
    _default: Runtime | None = None
    _default_lock = threading.Lock()

    def __init__(self, pm: pluggy.PluginManager | None = None, settings: Settings | None = None):
        self.settings = settings or Settings.from_env()
        # a script can print $MY_PASSWORD without any template naming it: mask it from the start
        register_environment_secrets(os.environ)
        install_console_streams()  # and what this process prints is masked (server, Dask workers)
        sweep_stale_run_dirs()
        freeze_collector_at_exit()
        self.pm = pm or get_plugin_manager(self.settings, stage_kinds_on_demand=True)
        self.stage_kinds = StageKinds(self.pm)
        self.pm.hook.register_stage_types(register=self.stage_kinds.register)
        self.filters: dict[str, Callable[..., Any]] = {}
        self.pm.hook.register_filters(register=self._register_filter)
        self.executors: dict[str, Callable[..., Any]] = {}
        self.pm.hook.register_executors(register=self._register_executor)
        self._calls: dict[str, CallFunction] = {}
        self._calls_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_lock = threading.Lock()
        self._secret_lookups: dict[Path | None, SecretLookup] = {}

    @functools.cached_property
    def expressions(self) -> ExpressionEngine:
        """The compiled expression engine, built when something first renders (jinja2 is not
        imported before)."""
        from runwright.templating.engine import ExpressionEngine

        return ExpressionEngine(self.filters)

    @classmethod
    def default(cls) -> Runtime:
        """The process-wide runtime, built on first use."""
        if cls._default is None:
            with cls._default_lock:
                if cls._default is None:
                    cls._default = Runtime()
        return cls._default

    @classmethod
    def reset_default(cls) -> None:
        cls._default = None

    @property
    def raw_text_fields(self) -> frozenset[str]:
        """Keys whose text ``${VAR}`` substitution leaves alone (script bodies), for the kinds
        registered so far; :meth:`StageKinds.load_named_in` first registers those a template names."""
        return self.stage_kinds.raw_text_fields

    def secret_lookup(self, conf_path: Path | None) -> SecretLookup:
        """Where ``${NAME}`` values come from for templates under ``conf_path`` (the
        ``secret_sources`` hook's sources, asked once per conf folder)."""
        folder = conf_folder(conf_path)
        key = folder.absolute() if folder is not None else None
        found = self._secret_lookups.get(key)
        if found is None:
            sources = [source for group in self.pm.hook.secret_sources(conf_path=folder) for source in group]
            found = self._secret_lookups.setdefault(key, SecretLookup(sources))
        return found

    # -- registration callbacks -----------------------------------------------------------

    def _register_filter(self, name: str, func: Callable[..., Any]) -> None:
        self.filters[name] = func

    def _register_executor(self, name: str, factory: Callable[..., Any]) -> None:
        self.executors[name] = factory

    # -- models ----------------------------------------------------------------------------

    @property
    def template_types(self) -> dict[str, type[BaseModel]]:
        from runwright.models.concurrency import Pool
        from runwright.models.schedule import Schedule
        from runwright.models.workflow import Workflow

        return {"Workflow": Workflow, "Schedule": Schedule, "Pool": Pool}

    def validation_context(self) -> dict[str, Any]:
        return {"stage_kinds": self.stage_kinds, "runtime": self}

    # -- calls -----------------------------------------------------------------------------

    def resolve_call(self, reference: str) -> CallFunction:
        """``MODULE/NAME@TAG`` to its call function (cached); unknown is a listing error."""
        cached = self._calls.get(reference)
        if cached is not None:
            return cached
        module, name, tag = parse_uses(reference)
        found = self.pm.hook.resolve_call(module=module, name=name, tag=tag)
        if found is None:
            available = [call for group in self.pm.hook.list_calls() for call in group]
            raise unresolved_call_error(module, name, tag, available, self.settings.registry_packages)
        with self._calls_lock:
            self._calls[reference] = found
        return found

    # -- async call functions --------------------------------------------------------------

    def run_coroutine(
        self, coroutine: Any, timeout: float | None = None, cancel_event: threading.Event | None = None
    ) -> Any:
        """Run an async call function on the engine's own event loop thread.

        When ``cancel_event`` is set (a cancel or the stage's deadline) the task is cancelled and
        ``RunCancelled`` raised at once.
        """
        import asyncio

        with self._loop_lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="runwright-async", daemon=True)
                thread.start()
                self._loop = loop
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        if cancel_event is None:
            return future.result(timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            step = 0.05 if deadline is None else max(0.0, min(0.05, deadline - time.monotonic()))
            try:
                return future.result(step)
            except FutureTimeout:
                if cancel_event.is_set() or (deadline is not None and time.monotonic() >= deadline):
                    future.cancel()
                    raise RunCancelled("cancelled while awaiting an async call") from None
