"""A run's events turned into OpenTelemetry spans, and the W3C context of each place in it.

Spans are made from the run's trace events (``run-start`` ... ``stage-end``) with the events'
own times, so a job replayed from a remote worker that did not trace it still gets its spans.
Span keys are ``(job, strategy, stage)``: ``(None, None, None)`` is the run; a stage's parent
is the closest open one of its enclosing stage (``a/b`` for ``a/b/c``), strategy, job, run, and
for a remote part, the driver's span it was given.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.trace import Span, SpanKind, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

log = logging.getLogger("runwright.otel")

Key = tuple[str | None, str | None, str | None]
RUN: Key = (None, None, None)
PROPAGATOR = TraceContextTextMapPropagator()
_PROVIDER_LOCK = threading.Lock()


def span_exporter() -> SpanExporter:
    """The exporter ``OTEL_TRACES_EXPORTER`` names: ``otlp`` (OTLP over HTTP, the default;
    the exporter reads ``OTEL_EXPORTER_OTLP_*`` itself) or ``console``."""
    chosen = os.environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() or "otlp"
    if chosen == "console":
        return ConsoleSpanExporter()
    if chosen != "otlp":
        log.warning("OTEL_TRACES_EXPORTER=%s is not supported by runwright-otel; using otlp", chosen)
    protocol = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
    )
    if protocol.strip() != "http/protobuf":
        log.warning("OTLP protocol %s is not supported by runwright-otel; using http/protobuf", protocol)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()


def process_tracer_provider() -> Any:
    """The provider the program set already (an embedding application's), else one made from
    the ``OTEL_*`` variables (service name ``runwright`` unless ``OTEL_SERVICE_NAME`` says),
    set as the process's, exported in batches and flushed when the process exits."""
    with _PROVIDER_LOCK:
        current = trace.get_tracer_provider()
        if isinstance(current, TracerProvider):
            return current
        attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": "runwright"}
        provider = TracerProvider(resource=Resource.create(attributes))
        provider.add_span_processor(BatchSpanProcessor(span_exporter()))
        trace.set_tracer_provider(provider)
        return provider


def traceparent_of(span: Span) -> str:
    """The W3C ``traceparent`` header of ``span``."""
    context = span.get_span_context()
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


def enclosing_keys(job: str | None, strategy: str | None, stage: str | None) -> list[Key]:
    """The keys of a place and of everything around it, nearest first (the run last)."""
    keys: list[Key] = []
    if stage:
        parts = stage.split("/")
        keys.extend((job, strategy, "/".join(parts[:n])) for n in range(len(parts), 0, -1))
    if strategy:
        keys.append((job, strategy, None))
    if job:
        keys.append((job, None, None))
    keys.append(RUN)
    return keys


class RunSpans:
    """The tracer of one run (or of a remote part of it): a listener of its trace events."""

    def __init__(
        self,
        tracer: Any,
        workflow: str,
        run_id: str,
        parent_run_id: str | None,
        release: dict[str, Any],
        traceparent: str | None,
        remote: bool,
    ) -> None:
        self._tracer = tracer
        self._workflow = workflow
        incoming = traceparent or (None if remote else os.environ.get("TRACEPARENT"))
        self._incoming = incoming
        self._parent: Context | None = PROPAGATOR.extract({"traceparent": incoming}) if incoming else None
        self._attributes: dict[str, Any] = {"runwright.workflow": workflow, "runwright.run_id": run_id}
        if release.get("logical_date") is not None:
            self._attributes["runwright.logical_date"] = str(release["logical_date"])
        if release.get("type"):
            self._attributes["runwright.release_type"] = str(release["type"])
        if parent_run_id:
            self._attributes["runwright.parent_run_id"] = parent_run_id
        self._spans: dict[Key, Span] = {}
        self._lock = threading.Lock()

    # -- the engine's questions ------------------------------------------------------------

    def traceparent(self, job: str | None, strategy: str | None, stage: str | None) -> str | None:
        with self._lock:
            for key in enclosing_keys(job, strategy, stage):
                span = self._spans.get(key)
                if span is not None:
                    return traceparent_of(span)
        return self._incoming

    # -- events ----------------------------------------------------------------------------

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event.get("event", "")
        if "spans" in event or not isinstance(kind, str):
            return  # made by the remote worker that ran this part
        try:
            self._on(kind, event)
        except Exception:  # a tracer never breaks a run
            log.exception("runwright-otel: could not trace event %s", kind)

    def _on(self, kind: str, event: dict[str, Any]) -> None:
        when = int(float(event.get("time", 0)) * 1e9) or None
        job, strategy, stage = event.get("job"), event.get("strategy"), event.get("stage")
        key: Key = (job, strategy, stage)
        if kind == "run-start":
            self._start(RUN, f"run {self._workflow}", when, kind=SpanKind.INTERNAL)
        elif kind == "job-start":
            self._start((job, None, None), f"job {job}", when)
        elif kind == "strategy-start":
            self._start((job, strategy, None), f"strategy {job}/{strategy}", when, strategy=strategy)
        elif kind == "stage-start":
            self._start(key, f"stage {stage}", when, label=event.get("message"))
        elif kind in {"run-end", "job-end", "strategy-end", "stage-end"}:
            self._end(RUN if kind == "run-end" else key, kind, event, when)
        elif kind in {"job-reused", "stage-reused"}:
            name = f"job {job}" if kind == "job-reused" else f"stage {stage}"
            self._start(key, name, when, reused=True)
            self._end(key, kind, {**event, "status": "SUCCESS"}, when)

    def _start(
        self,
        key: Key,
        name: str,
        when: int | None,
        kind: SpanKind = SpanKind.INTERNAL,
        **extra: Any,
    ) -> Span:
        attributes = dict(self._attributes)
        job, strategy, stage = key
        if job is not None:
            attributes["runwright.job"] = job
        if strategy is not None:
            attributes["runwright.strategy"] = strategy
        if stage is not None:
            attributes["runwright.stage"] = stage
        for field, value in extra.items():
            if value is not None:
                attributes[f"runwright.{field}"] = value
        with self._lock:
            parent = self._parent_context(key)
            span = self._tracer.start_span(
                name, context=parent, kind=kind, attributes=attributes, start_time=when
            )
            self._spans[key] = span
        return span

    def _parent_context(self, key: Key) -> Context | None:
        for candidate in enclosing_keys(*key):
            if candidate == key:
                continue
            span = self._spans.get(candidate)
            if span is not None:
                return trace.set_span_in_context(span)
        return self._parent

    def _end(self, key: Key, kind: str, event: dict[str, Any], when: int | None) -> None:
        with self._lock:
            span = self._spans.get(key) if key == RUN else self._spans.pop(key, None)
        if span is None:  # a job never started (skipped, cancelled, its worker lost)
            span = self._start(key, f"{kind.split('-')[0]} {key[2] or key[1] or key[0]}", when)
            with self._lock:
                self._spans.pop(key, None)
        status = str(event.get("status") or event.get("message") or "")
        span.set_attribute("runwright.status", status)
        errors = event.get("errors") or []
        first = errors[0] if errors and isinstance(errors[0], dict) else None
        if first is not None:
            span.set_attribute("runwright.error", f"{first.get('name', 'Error')}: {first.get('message', '')}")
        if status == "FAILED":
            description = first.get("message", "") if first else str(event.get("message") or "failed")
            span.set_status(StatusCode.ERROR, description)
        elif status == "SUCCESS":
            span.set_status(StatusCode.OK)
        if event.get("reason") or (kind != "stage-end" and event.get("message") not in (None, status)):
            span.set_attribute("runwright.reason", str(event.get("reason") or event.get("message")))
        span.end(end_time=when)
