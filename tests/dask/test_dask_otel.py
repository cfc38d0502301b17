"""The W3C trace context reaches Dask workers: their stage spans continue the driver's trace.

The driver traces into the SDK's in-memory exporter; the workers (a cluster of their own,
started with the standard ``OTEL_*`` variables) export with OTLP/HTTP to a receiver on
127.0.0.1. Without a tracer on the workers, the driver makes the workers' spans itself from the
events they send back, with the events' own times.
"""

from __future__ import annotations

from collections.abc import Iterator

import distributed
import pytest
from runwright import Status, Workflow

from tests.otel import conftest as otel_fixtures
from tests.otel import receiver as receiver_fixtures
from tests.otel.conftest import conf_folder
from tests.otel.receiver import Receiver

exporter = otel_fixtures.exporter  # the fixtures of tests/otel, used here too
traced_runtime = otel_fixtures.traced_runtime
receiver = receiver_fixtures.receiver

WORKFLOW = """
spread:
  type: Workflow
  jobs:
    square:
      runs-on: {{type: dask, address: "{address}"}}
      strategy: {{matrix: {{n: [1, 2]}}}}
      stages:
        - id: calc
          bash: 'printf %s "$TRACEPARENT"'
    whole:
      runs-on: {{type: dask, address: "{address}"}}
      stages:
        - id: one
          run: answer = 42
"""


@pytest.fixture
def traced_cluster(receiver: Receiver) -> Iterator[str]:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url, "OTEL_BSP_SCHEDULE_DELAY": "50"}
    cluster = distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=True, dashboard_address=None, host="127.0.0.1", env=env
    )
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


def test_worker_spans_are_children_of_the_driver_spans(
    traced_runtime, exporter, receiver, traced_cluster, tmp_path
) -> None:
    folder = conf_folder(tmp_path, WORKFLOW.format(address=traced_cluster))
    result = Workflow.from_conf("spread", folder, runtime=traced_runtime(autoload=True)).execute()
    assert result.status is Status.SUCCESS, result.errors
    driver = exporter.get_finished_spans()
    assert sorted(span.name for span in driver) == [
        "job square",
        "run spread",
        "strategy square/1",
        "strategy square/2",
    ]  # the workers made the others: not made twice here
    run = next(span for span in driver if span.name == "run spread")
    strategies = {span.context.span_id: span for span in driver if span.name.startswith("strategy")}

    remote = receiver.wait_for_spans(4)
    assert sorted(span.name for span in remote) == ["job whole", "stage calc", "stage calc", "stage one"]
    assert {span.trace_id.hex() for span in remote} == {f"{run.context.trace_id:032x}"}
    for span in remote:
        if span.name == "stage calc":
            parent = strategies[int.from_bytes(span.parent_span_id, "big")]
            matrix = {a.key: a.value.string_value for a in span.attributes}["runwright.strategy"]
            assert parent.attributes["runwright.strategy"] == matrix
        if span.name == "job whole":
            assert int.from_bytes(span.parent_span_id, "big") == run.context.span_id
    stdout = {
        sid: entry["stages"]["calc"] for sid, entry in result.context["jobs"]["square"]["strategies"].items()
    }
    assert set(stdout) == {"1", "2"}


def test_without_a_tracer_on_the_workers_the_driver_makes_their_spans(
    traced_runtime, exporter, dask_address, tmp_path
) -> None:
    folder = conf_folder(tmp_path, WORKFLOW.format(address=dask_address))
    result = Workflow.from_conf("spread", folder, runtime=traced_runtime(autoload=True)).execute()
    assert result.status is Status.SUCCESS, result.errors
    spans = exporter.get_finished_spans()
    assert sorted(span.name for span in spans) == [
        "job square",
        "job whole",
        "run spread",
        "stage calc",
        "stage calc",
        "stage one",
        "strategy square/1",
        "strategy square/2",
    ]
    ids = {span.context.span_id: span for span in spans}
    for span in spans:
        if span.name == "stage calc":
            assert ids[span.parent.span_id].name.startswith("strategy square/")
            assert span.start_time <= span.end_time
        if span.name == "stage one":
            assert ids[span.parent.span_id].name == "job whole"
