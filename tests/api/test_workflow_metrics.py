"""``/metrics`` labels run counters and durations by workflow, for a bounded number of workflows:
past ``RUNWRIGHT_METRICS_MAX_WORKFLOWS`` the runs of further workflows count as ``_other``, and
the unlabelled server totals stay exact. A real ``runwright serve`` on 127.0.0.1."""

from __future__ import annotations

import re
from pathlib import Path

from tests.api.conftest import WORKER_MODES, start_server, stop_server

CONF = """
alpha:
  type: Workflow
  jobs: {j: {stages: [{id: s, echo: a}]}}
beta:
  type: Workflow
  jobs: {j: {stages: [{id: s, bash: "exit 1"}]}}
gamma:
  type: Workflow
  jobs: {j: {stages: [{id: s, echo: g}]}}
delta:
  type: Workflow
  jobs: {j: {stages: [{id: s, echo: d}]}}
"""


def sample(text: str, name: str, labels: str) -> float | None:
    match = re.search(rf"^{re.escape(name)}{{{re.escape(labels)}}} (\S+)$", text, re.M)
    return float(match.group(1)) if match else None


@WORKER_MODES
def test_runs_are_counted_per_workflow_up_to_the_bound(tmp_path: Path, workers: int) -> None:
    running = start_server(
        tmp_path,
        extra_args=("--workers", str(workers)),
        env={"RUNWRIGHT_METRICS_MAX_WORKFLOWS": "2"},
        conf_text=CONF,
    )
    try:
        for workflow in ["alpha", "alpha", "beta", "gamma", "delta"]:
            run_id = running.trigger(workflow)
            assert running.wait_status(run_id)["status"] != "RUNNING"
        text = running.client.get(running.api("/metrics")).text
    finally:
        stop_server(running)
    runs = "runwright_workflow_runs_total"
    assert sample(text, runs, 'workflow="alpha",status="SUCCESS"') == 2
    assert sample(text, runs, 'workflow="beta",status="FAILED"') == 1
    assert sample(text, runs, 'workflow="_other",status="SUCCESS"') == 2  # gamma and delta
    assert "gamma" not in text and "delta" not in text
    assert sample(text, "runwright_workflow_runs_started_total", 'workflow="alpha"') == 2
    assert sample(text, "runwright_workflow_run_duration_seconds_count", 'workflow="_other"') == 2
    assert sample(text, "runwright_workflow_run_duration_seconds_bucket", 'workflow="beta",le="+Inf"') == 1
    assert "# TYPE runwright_workflow_run_duration_seconds histogram" in text
    assert sample(text, "runwright_runs_total", 'status="SUCCESS"') == 4  # the totals are exact
    assert sample(text, "runwright_runs_total", 'status="FAILED"') == 1


def test_label_values_are_escaped() -> None:
    from runwright_api.metrics import label_value

    assert label_value('a"b\\c\nd') == 'a\\"b\\\\c\\nd'
