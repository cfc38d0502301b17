"""Releases of the in-process scheduler are counted in /metrics, and a scheduler that runs until
stopped keeps only its latest outcomes in memory (the audit store has every one)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from runwright.audit import make_audit_backend
from runwright.schedule import scheduler as scheduler_module
from runwright.schedule.clock import SimulatedClock
from runwright.schedule.scheduler import Scheduler
from runwright_api.metrics import prometheus_text
from runwright_api.service import RunService

T0 = datetime(2026, 3, 2, 9, 0, 30, tzinfo=UTC)
CONF = """
every-minute:
  type: Workflow
  on: [{cronjob: "* * * * *", timezone: UTC}]
  jobs:
    only:
      stages:
        - {id: hello, echo: hello}
"""


@pytest.fixture
def conf(tmp_path: Path) -> Path:
    folder = tmp_path / "conf"
    folder.mkdir()
    (folder / "flows.yml").write_text(CONF, encoding="utf-8")
    return folder


def test_scheduled_releases_count_in_metrics(conf: Path, tmp_path: Path) -> None:
    audit = make_audit_backend(f"sqlite:///{tmp_path / 'audit.db'}")
    service = RunService(conf, audit=audit)
    scheduler = Scheduler(conf, audit=audit, clock=SimulatedClock(T0))
    scheduler.outcome_listeners.append(service._observe_scheduled)
    try:
        outcomes = scheduler.run(until=T0 + timedelta(minutes=3))
    finally:
        service.shutdown(1)
    assert [o.status for o in outcomes] == ["SUCCESS"] * 3
    text = prometheus_text(service)
    assert 'runwright_runs_total{status="SUCCESS"} 3' in text
    assert "runwright_runs_started_total 3" in text
    assert "runwright_run_duration_seconds_count 3" in text


def test_a_scheduler_running_until_stopped_keeps_only_its_latest_outcomes(
    conf: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scheduler_module, "MAX_KEPT_OUTCOMES", 2)
    audit = make_audit_backend(f"sqlite:///{tmp_path / 'audit.db'}")
    scheduler = Scheduler(conf, audit=audit, clock=SimulatedClock(T0))
    seen = []

    def stop_after_five(outcome) -> None:
        seen.append(outcome)
        if len(seen) == 5:
            scheduler.stop()

    scheduler.outcome_listeners.append(stop_after_five)
    kept = scheduler.run()  # no until: runs until the listener stops it
    assert len(seen) >= 5
    assert [o.run_id for o in kept] == [o.run_id for o in seen[-2:]]
    assert len(audit.list(workflow="every-minute")) == len(seen)  # the store has them all
