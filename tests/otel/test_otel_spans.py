"""One span per run, job, strategy and stage, and the W3C context handed to what a stage starts.

The spans go to the SDK's in-memory exporter; the stages are real (bash processes, Python in
a child process, a ``trigger:`` run, an ``on: release`` follower).
"""

from __future__ import annotations

from pathlib import Path

from opentelemetry.trace import StatusCode
from runwright import Workflow

from tests.otel.conftest import by_name, conf_folder, traceparent_of

PIPELINE = """
nightly:
  type: Workflow
  params: {{day: {{type: str, default: "2026-01-02"}}}}
  jobs:
    extract:
      strategy:
        matrix: {{table: [users, orders]}}
      stages:
        - id: pull
          bash: 'printf %s "$TRACEPARENT" > {out}/pull-${{{{ matrix.table }}}}'
    load:
      needs: [extract]
      stages:
        - id: child
          run: |
            import os
            seen = os.environ.get("TRACEPARENT", "")
          isolation: process
        - id: threaded
          run: |
            from runwright.trace import current_traceparent
            context = current_traceparent()
        - id: broken
          bash: 'echo failing >&2; exit 3'
"""


def test_a_run_is_one_trace_of_run_job_strategy_and_stage_spans(
    traced_runtime, exporter, tmp_path: Path
) -> None:
    folder = conf_folder(tmp_path, PIPELINE.format(out=tmp_path))
    runtime = traced_runtime()
    workflow = Workflow.from_conf("nightly", folder, runtime=runtime)
    result = workflow.execute()
    assert result.status.value == "FAILED"
    spans = exporter.get_finished_spans()
    names = sorted(span.name for span in spans)
    assert names == sorted(
        [
            "run nightly",
            "job extract",
            "strategy extract/users",
            "strategy extract/orders",
            "stage pull",
            "stage pull",
            "job load",
            "stage child",
            "stage threaded",
            "stage broken",
        ]
    )
    run = by_name(spans)["run nightly"]
    assert run.parent is None
    assert {span.context.trace_id for span in spans} == {run.context.trace_id}
    assert run.attributes["runwright.workflow"] == "nightly"
    assert run.attributes["runwright.run_id"] == result.run_id
    assert run.attributes["runwright.logical_date"]
    assert run.attributes["runwright.status"] == "FAILED"
    assert run.status.status_code is StatusCode.ERROR
    assert result.traceparent == traceparent_of(run)

    ids = {span.context.span_id: span for span in spans}
    for span in spans:
        if span.name.startswith("job "):
            assert span.parent.span_id == run.context.span_id
        if span.name.startswith("strategy "):
            assert ids[span.parent.span_id].name == "job extract"
            assert span.attributes["runwright.status"] == "SUCCESS"
        if span.name == "stage pull":
            assert ids[span.parent.span_id].name.startswith("strategy extract/")
            # the bash process got exactly its stage's context
            table = span.attributes["runwright.strategy"]
            assert (tmp_path / f"pull-{table}").read_text() == traceparent_of(span)
    stages = by_name(spans)
    assert ids[stages["stage child"].parent.span_id].name == "job load"
    assert result.context["jobs"]["load"]["stages"]["child"]["outputs"]["seen"] == traceparent_of(
        stages["stage child"]
    )
    threaded = result.context["jobs"]["load"]["stages"]["threaded"]["outputs"]["context"]
    assert threaded == traceparent_of(stages["stage threaded"])  # a thread stage reads it in code
    broken = stages["stage broken"]
    assert broken.status.status_code is StatusCode.ERROR
    assert broken.attributes["runwright.status"] == "FAILED"
    assert "exit" in broken.attributes["runwright.error"] or "3" in broken.attributes["runwright.error"]
    assert stages["job load"].status.status_code is StatusCode.ERROR


TRIGGERS = """
parent:
  type: Workflow
  jobs:
    j:
      stages:
        - id: call-child
          trigger: child
child:
  type: Workflow
  on:
    release: [parent]
  jobs:
    k:
      stages:
        - id: hello
          bash: 'printf %s "$TRACEPARENT" > {out}/child-${{{{ release.type }}}}'
"""


def test_a_triggered_run_and_a_release_follower_continue_the_trace(
    traced_runtime, exporter, tmp_path: Path
) -> None:
    from runwright.schedule.release_triggers import Followers

    folder = conf_folder(tmp_path, TRIGGERS.format(out=tmp_path))
    runtime = traced_runtime()
    parent = Workflow.from_conf("parent", folder, runtime=runtime)
    result = parent.execute()
    assert result.status.value == "SUCCESS"
    followers = Followers.of(parent)
    [outcome] = followers.release(result, result.started, None, {})
    assert outcome.status == "SUCCESS"

    spans = exporter.get_finished_spans()
    ids = {span.context.span_id: span for span in spans}
    runs = [span for span in spans if span.name == "run child"]
    assert len(runs) == 2
    trigger_stage = next(span for span in spans if span.name == "stage call-child")
    parent_run = next(span for span in spans if span.name == "run parent")
    triggered = next(span for span in runs if span.parent.span_id == trigger_stage.context.span_id)
    follower = next(span for span in runs if span is not triggered)
    assert follower.parent.span_id == parent_run.context.span_id  # the upstream run's span
    assert {span.context.trace_id for span in spans} == {parent_run.context.trace_id}
    assert triggered.attributes["runwright.parent_run_id"] == result.run_id
    hello = {ids[span.parent.span_id].parent.span_id: span for span in spans if span.name == "stage hello"}
    assert (tmp_path / "child-trigger").read_text() == traceparent_of(hello[triggered.context.span_id])
    assert (tmp_path / "child-event").read_text() == traceparent_of(hello[follower.context.span_id])


MATRIX = """
wide:
  type: Workflow
  jobs:
    j:
      strategy: {matrix: {n: [1, 2]}}
      stages:
        - {id: s, echo: "${{ matrix.n }}"}
"""


def test_strategy_events_are_written_only_for_a_tracer(traced_runtime, runtime, tmp_path: Path) -> None:
    """A run nobody traces writes the trace file it always did: no strategy events."""
    from runwright.trace import read_trace

    folder = conf_folder(tmp_path, MATRIX)
    plain = Workflow.from_conf("wide", folder, runtime=runtime).execute()
    traced = Workflow.from_conf("wide", folder, runtime=traced_runtime()).execute()
    plain_events = [e["event"] for e in read_trace(Path(plain.log_file))]
    traced_events = [e["event"] for e in read_trace(Path(traced.log_file))]
    assert "strategy-start" not in plain_events and "strategy-end" not in plain_events
    assert traced_events.count("strategy-start") == traced_events.count("strategy-end") == 2
    assert [e for e in traced_events if not e.startswith("strategy-")] == plain_events
