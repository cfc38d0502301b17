"""OpenTelemetry tests: a runtime whose tracer plugin exports to the SDK's in-memory exporter."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from runwright.config import Settings
from runwright.plugins import get_plugin_manager
from runwright.runtime import Runtime
from runwright_otel.plugin import OpenTelemetryPlugin

from tests.otel.receiver import receiver  # noqa: F401 - a fixture


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def traced_runtime(exporter: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Runtime]:
    """A runtime with the in-memory tracer plugin (and ``plugins``); no entry point loaded unless
    ``autoload`` (remote workers build their runtime from these settings: with autoload, the
    installed runwright-otel traces there as the workers' ``OTEL_*`` variables say)."""
    monkeypatch.delenv("TRACEPARENT", raising=False)
    for name in [name for name in os.environ if name.startswith("OTEL_")]:
        monkeypatch.delenv(name)
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))

    def make(*plugins: Any, autoload: bool = False) -> Runtime:
        if autoload:
            monkeypatch.delenv("RUNWRIGHT_DISABLE_PLUGIN_AUTOLOAD", raising=False)
        else:
            monkeypatch.setenv("RUNWRIGHT_DISABLE_PLUGIN_AUTOLOAD", "1")
        settings = Settings.from_env()
        pm = get_plugin_manager(
            settings, extra_plugins=(OpenTelemetryPlugin(provider), *plugins), stage_kinds_on_demand=True
        )
        return Runtime(pm, settings)

    return make


def by_name(spans: tuple[ReadableSpan, ...] | list[ReadableSpan]) -> dict[str, ReadableSpan]:
    return {span.name: span for span in spans}


def traceparent_of(span: ReadableSpan) -> str:
    context = span.get_span_context()
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


def conf_folder(tmp_path: Path, text: str) -> Path:
    import textwrap

    folder = tmp_path / "conf"
    folder.mkdir(exist_ok=True)
    (folder / "templates.yml").write_text(textwrap.dedent(text), encoding="utf-8")
    return folder
