"""The ``make_run_tracer`` hook: one OpenTelemetry span per run, job, strategy and stage.

This module is what the ``runwright`` entry point imports when the runtime starts, so it imports
nothing of OpenTelemetry: the SDK is imported by the first run traced. Runs are traced when the
standard variables say where spans go (``OTEL_EXPORTER_OTLP_ENDPOINT``,
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` or ``OTEL_TRACES_EXPORTER``), unless
``OTEL_SDK_DISABLED=true`` or ``OTEL_TRACES_EXPORTER=none``; otherwise nothing is imported, and an
installed plugin with no collector configured never waits at exit for one that is not there.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any

from runwright.hookspecs import hookimpl

CONFIGURING_VARIABLES = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_TRACES_EXPORTER",
)


def tracing_configured(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the standard variables send spans somewhere (and do not turn the SDK off)."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none":
        return False
    return any(environ.get(name, "").strip() for name in CONFIGURING_VARIABLES)


class OpenTelemetryPlugin:
    """Traces runs with ``tracer_provider`` (tests give one with an in-memory exporter), else
    with the process's provider, made from the ``OTEL_*`` variables on first use."""

    def __init__(self, tracer_provider: Any = None) -> None:
        self._provider = tracer_provider
        self._lock = threading.Lock()

    def tracer(self) -> Any:
        from runwright_otel.spans import process_tracer_provider

        with self._lock:
            if self._provider is None:
                self._provider = process_tracer_provider()
        return self._provider.get_tracer("runwright")

    @hookimpl
    def make_run_tracer(
        self,
        workflow: str,
        run_id: str,
        parent_run_id: str | None,
        release: dict[str, Any],
        traceparent: str | None,
        remote: bool,
    ) -> Any:
        if self._provider is None and not tracing_configured():
            return None
        from runwright_otel.spans import RunSpans

        return RunSpans(self.tracer(), workflow, run_id, parent_run_id, release, traceparent, remote)


PROCESS_PLUGIN = OpenTelemetryPlugin()
"""The entry point's plugin (``runwright_otel.plugin:PROCESS_PLUGIN``): the process's provider."""
