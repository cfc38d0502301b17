"""``/metrics`` in the Prometheus text exposition format (version 0.0.4), written by hand."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runwright_api.service import RunService

from runwright_api.service import DURATION_BUCKETS, OTHER_WORKFLOWS, RunCounts


def label_value(text: str) -> str:
    """A Prometheus label value: backslash, double quote and line feed escaped."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def per_workflow_lines(per_workflow: dict[str, RunCounts], max_workflows: int) -> list[str]:
    """The run counters and the duration histogram with a ``workflow`` label."""
    lines = [
        "# HELP runwright_workflow_runs_total Runs this server finished, by workflow and final status "
        f'(the first {max_workflows} workflows seen; later ones count as workflow="{OTHER_WORKFLOWS}").',
        "# TYPE runwright_workflow_runs_total counter",
    ]
    for workflow, counts in per_workflow.items():
        label = f'workflow="{label_value(workflow)}"'
        for status, number in sorted(counts.by_status.items()):
            lines.append(f'runwright_workflow_runs_total{{{label},status="{status}"}} {number}')
    lines += [
        "# HELP runwright_workflow_runs_started_total Runs this server started, by workflow.",
        "# TYPE runwright_workflow_runs_started_total counter",
    ]
    for workflow, counts in per_workflow.items():
        label = f'workflow="{label_value(workflow)}"'
        lines.append(f"runwright_workflow_runs_started_total{{{label}}} {counts.triggered}")
    lines += [
        "# HELP runwright_workflow_run_duration_seconds How long finished runs took, by workflow.",
        "# TYPE runwright_workflow_run_duration_seconds histogram",
    ]
    for workflow, counts in per_workflow.items():
        label = f'workflow="{label_value(workflow)}"'
        for bound, bucket in zip(DURATION_BUCKETS, counts.bucket_counts, strict=True):
            lines.append(f'runwright_workflow_run_duration_seconds_bucket{{{label},le="{bound}"}} {bucket}')
        lines += [
            f'runwright_workflow_run_duration_seconds_bucket{{{label},le="+Inf"}} {counts.duration_count}',
            f"runwright_workflow_run_duration_seconds_sum{{{label}}} {counts.duration_sum}",
            f"runwright_workflow_run_duration_seconds_count{{{label}}} {counts.duration_count}",
        ]
    return lines


def prometheus_text(service: RunService) -> str:
    metrics = service.metrics
    with service._lock:
        by_status = dict(metrics.by_status)
        buckets = list(metrics.bucket_counts)
        total, count, active = metrics.duration_sum, metrics.duration_count, len(service.active)
        triggered = metrics.triggered
        per_workflow = {name: copy.deepcopy(counts) for name, counts in sorted(metrics.per_workflow.items())}
    lines = [
        "# HELP runwright_runs_total Runs this server finished, by final status.",
        "# TYPE runwright_runs_total counter",
    ]
    for status in sorted(set(by_status) | {"SUCCESS", "FAILED", "CANCEL"}):
        lines.append(f'runwright_runs_total{{status="{status}"}} {by_status.get(status, 0)}')
    lines += [
        "# HELP runwright_runs_started_total Runs this server started (trigger, rerun, release).",
        "# TYPE runwright_runs_started_total counter",
        f"runwright_runs_started_total {triggered}",
        "# HELP runwright_run_duration_seconds How long finished runs took.",
        "# TYPE runwright_run_duration_seconds histogram",
    ]
    for bound, bucket in zip(DURATION_BUCKETS, buckets, strict=True):
        lines.append(f'runwright_run_duration_seconds_bucket{{le="{bound}"}} {bucket}')
    lines += [
        f'runwright_run_duration_seconds_bucket{{le="+Inf"}} {count}',
        f"runwright_run_duration_seconds_sum {total}",
        f"runwright_run_duration_seconds_count {count}",
        *per_workflow_lines(per_workflow, metrics.max_workflows),
        "# HELP runwright_active_runs Runs going on in this server now.",
        "# TYPE runwright_active_runs gauge",
        f"runwright_active_runs {active}",
    ]
    if service.workers is not None:
        alive, restarts = service.workers.health()
        lines += [
            "# HELP runwright_workers Worker processes running workflows now.",
            "# TYPE runwright_workers gauge",
            f"runwright_workers {alive}",
            "# HELP runwright_worker_restarts_total Worker processes that died and were replaced.",
            "# TYPE runwright_worker_restarts_total counter",
            f"runwright_worker_restarts_total {restarts}",
        ]
    lines += concurrency_lines(service)
    lag = service.scheduler_lag_seconds()
    if lag is not None:
        lines += [
            "# HELP runwright_scheduler_lag_seconds How late the in-process scheduler's next tick is.",
            "# TYPE runwright_scheduler_lag_seconds gauge",
            f"runwright_scheduler_lag_seconds {lag}",
        ]
    return "\n".join(lines) + "\n"


def concurrency_lines(service: RunService) -> list[str]:
    """Slots in use and runs (or jobs, stages) waiting, per concurrency group, workflow
    (max-active-runs) and pool, from the store's leases: every process sharing it counts.
    One series per resource with a live lease, so the count is bounded by what runs now."""
    try:
        leases = service.audit.list_leases()
    except Exception:  # a store without leases (an outside plugin not updated yet)
        return []
    in_use: dict[tuple[str, str], int] = {}
    waiting: dict[tuple[str, str], int] = {}
    for lease in leases:
        kind, _, name = lease.resource.partition(":")
        key = (kind, name)
        if lease.state.value == "held":
            in_use[key] = in_use.get(key, 0) + lease.weight
        else:
            waiting[key] = waiting.get(key, 0) + 1
    lines = [
        "# HELP runwright_slots_in_use Slots held now, per concurrency group, workflow and pool.",
        "# TYPE runwright_slots_in_use gauge",
    ]
    lines += [f"runwright_slots_in_use{{{labels(key)}}} {count}" for key, count in sorted(in_use.items())]
    lines += [
        "# HELP runwright_queue_depth Claimants waiting for a slot, per group, workflow and pool.",
        "# TYPE runwright_queue_depth gauge",
    ]
    lines += [f"runwright_queue_depth{{{labels(key)}}} {count}" for key, count in sorted(waiting.items())]
    return lines


def labels(key: tuple[str, str]) -> str:
    kind, name = key
    escaped = name.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'kind="{kind}",name="{escaped}"'
