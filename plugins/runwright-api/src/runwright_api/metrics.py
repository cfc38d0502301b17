"""``/metrics`` in the Prometheus text exposition format (version 0.0.4), written by hand."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runwright_api.service import RunService

from runwright_api.service import DURATION_BUCKETS


def prometheus_text(service: RunService) -> str:
    metrics = service.metrics
    with service._lock:
        by_status = dict(metrics.by_status)
        buckets = list(metrics.bucket_counts)
        total, count, active = metrics.duration_sum, metrics.duration_count, len(service.active)
        triggered = metrics.triggered
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
    lag = service.scheduler_lag_seconds()
    if lag is not None:
        lines += [
            "# HELP runwright_scheduler_lag_seconds How late the in-process scheduler's next tick is.",
            "# TYPE runwright_scheduler_lag_seconds gauge",
            f"runwright_scheduler_lag_seconds {lag}",
        ]
    return "\n".join(lines) + "\n"
