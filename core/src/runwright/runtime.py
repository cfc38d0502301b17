"""The runtime: what the plugins registered, collected once and shared by every run.

A Runtime holds the plugin manager, the stage kinds, the filters and their compiled expression
engine, the executors and a cache of resolved ``uses:`` references. ``Runtime.default()`` is the
process's shared one; tests build their own with ``Runtime(get_plugin_manager(...))``.
"""

from __future__ import annotations

import atexit
import functools
import gc
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TYPE_CHECKING, Any

import pluggy
from pydantic import BaseModel

from runwright.config import Settings
from runwright.engine.context import sweep_stale_run_dirs
from runwright.errors import CallResolutionError, RunCancelled, RunwrightError
from runwright.masking import register_environment_secrets
from runwright.models.stage import Stage
from runwright.plugins import get_plugin_manager
from runwright.registry import CallFunction, parse_uses, unresolved_message

if TYPE_CHECKING:
    import asyncio

    from runwright.templating.engine import ExpressionEngine


_exit_freeze_registered = False


def freeze_collector_at_exit() -> None:
    """Once per process: freeze the cyclic collector when the interpreter exits.

    Shutting down, CPython runs full collections over every object still alive: the modules,
    models and schemas a run built, 35-50 ms of a short run's wall time (a seventh of a fresh
    ``runwright run``). Frozen, those collections skip them. Atexit handlers and
    ``weakref.finalize`` callbacks still run, and objects are still freed by reference counting;
    only the ``__del__`` of objects left in reference cycles at exit is not called, which Python
    never promises anyway.
    """
    global _exit_freeze_registered
    if not _exit_freeze_registered:
        _exit_freeze_registered = True
        atexit.register(gc.freeze)


class Runtime:
    _default: Runtime | None = None
    _default_lock = threading.Lock()

    def __init__(self, pm: pluggy.PluginManager | None = None, settings: Settings | None = None):
        self.settings = settings or Settings.from_env()
        # a script can print $MY_PASSWORD without any template naming it: mask it from the start
        register_environment_secrets(os.environ)
        sweep_stale_run_dirs()
        freeze_collector_at_exit()
        self.pm = pm or get_plugin_manager(self.settings)
        self.stage_kinds: dict[str, type[Stage]] = {}
        self.pm.hook.register_stage_types(register=self._register_stage_kind)
        self.raw_text_fields = frozenset(
            alias for cls in self.stage_kinds.values() for alias in cls.raw_text_fields
        )
        self.filters: dict[str, Callable[..., Any]] = {}
        self.pm.hook.register_filters(register=self._register_filter)
        self.executors: dict[str, Callable[..., Any]] = {}
        self.pm.hook.register_executors(register=self._register_executor)
        self._calls: dict[str, CallFunction] = {}
        self._calls_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_lock = threading.Lock()

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

    # -- registration callbacks -----------------------------------------------------------

    def _register_stage_kind(self, cls: type[Stage]) -> None:
        if not (isinstance(cls, type) and issubclass(cls, Stage)) or not cls.kind:
            raise RunwrightError(f"stage type {cls!r} must subclass Stage and set 'kind'")
        existing = self.stage_kinds.get(cls.kind)
        if existing is not None and existing is not cls:
            raise RunwrightError(
                f"two stage types claim the key '{cls.kind}': "
                f"{existing.__module__}.{existing.__name__} and {cls.__module__}.{cls.__name__}"
            )
        self.stage_kinds[cls.kind] = cls

    def _register_filter(self, name: str, func: Callable[..., Any]) -> None:
        self.filters[name] = func

    def _register_executor(self, name: str, factory: Callable[..., Any]) -> None:
        self.executors[name] = factory

    # -- models ----------------------------------------------------------------------------

    @property
    def template_types(self) -> dict[str, type[BaseModel]]:
        from runwright.models.schedule import Schedule
        from runwright.models.workflow import Workflow

        return {"Workflow": Workflow, "Schedule": Schedule}

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
            raise CallResolutionError(
                unresolved_message(module, name, tag, available, self.settings.registry_packages)
            )
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
