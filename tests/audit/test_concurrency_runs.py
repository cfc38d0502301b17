"""Concurrency control seen from runs: groups, queues, skip, cancel-in-progress, max-active-runs
and pools, on every store (file, SQLite, PostgreSQL; tests/audit/conftest.py).

Stages write their own start and end times to a file, so what ran at once is measured from
outside the engine.
"""

from __future__ import annotations

import textwrap
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from runwright.audit import AuditBackend, ReleaseStatus
from runwright.engine.context import CancelScope
from runwright.models.workflow import Workflow
from runwright.runtime import Runtime
from runwright.schedule.backfill import plan_backfill, run_backfill

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def write_conf(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "templates.yml").write_text(textwrap.dedent(text), encoding="utf-8")
    return folder


def spans(log: Path) -> list[tuple[float, float, str]]:
    """(start, end, label) of every stage run that wrote ``start LABEL T`` / ``end LABEL T``."""
    starts: dict[str, float] = {}
    found: list[tuple[float, float, str]] = []
    for line in log.read_text().splitlines():
        kind, label, moment = line.split()
        if kind == "start":
            starts[label] = float(moment)
        else:
            found.append((starts.pop(label), float(moment), label))
    assert not starts, f"stages that started and never ended: {starts}"
    return found


def most_at_once(intervals: list[tuple[float, float, str]]) -> int:
    """The largest number of intervals open at one moment (an end before a start at a tie)."""
    events = sorted([(s, 1) for s, _, _ in intervals] + [(e, -1) for _, e, _ in intervals])
    open_now = peak = 0
    for _, step in events:
        open_now += step
        peak = max(peak, open_now)
    return peak


def timed_stage(log: Path, seconds: float, label: str = "${{ release.logical_date }}") -> str:
    """A bash stage that records when it ran (label: which run or strategy)."""
    return (
        f'echo "start {label} $(date +%s.%N)" >> {log}; sleep {seconds}; '
        f'echo "end {label} $(date +%s.%N)" >> {log}'
    )


@pytest.fixture
def store(
    open_backend: Callable[[str], AuditBackend], audit_url: str, monkeypatch: pytest.MonkeyPatch
) -> AuditBackend:
    monkeypatch.setenv("RUNWRIGHT_AUDIT_URL", audit_url)
    return open_backend(audit_url)


def load(folder: Path, name: str) -> Workflow:
    return Workflow.from_conf(name, folder, runtime=Runtime.default())


def release_in_threads(
    workflow: Workflow, store: AuditBackend, count: int, stagger: float = 0.15
) -> list[Any]:
    """``count`` manual releases (logical dates a minute apart), started ``stagger`` apart."""
    outcomes: list[Any] = [None] * count

    def one(index: int) -> None:
        outcomes[index] = workflow.release(T0 + timedelta(minutes=index), audit=store)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
        time.sleep(stagger)
    for thread in threads:
        thread.join(120)
    assert all(not thread.is_alive() for thread in threads), "a release never ended"
    return outcomes


def test_a_group_of_limit_one_runs_its_runs_one_at_a_time_first_come_first_served(
    store: AuditBackend, tmp_path: Path
) -> None:
    log = tmp_path / "ran.log"
    folder = write_conf(
        tmp_path / "conf",
        f"""
        etl:
          type: Workflow
          concurrency: sales-${{{{ params.region }}}}
          params:
            region: {{type: str, default: eu}}
          jobs:
            load:
              stages:
                - name: load
                  bash: '{timed_stage(log, 0.6)}'
        """,
    )
    workflow = load(folder, "etl")
    seen_queued: list[str] = []

    def watch() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(seen_queued) < 2:
            seen_queued.extend(
                r.run_id for r in store.list(status=ReleaseStatus.QUEUED) if r.run_id not in seen_queued
            )
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    outcomes = release_in_threads(workflow, store, 4, stagger=0.2)
    watcher.join(60)
    assert [o.status for o in outcomes] == ["SUCCESS"] * 4
    ran = spans(log)
    assert most_at_once(ran) == 1
    # first come, first served: runs started in the order they asked (a minute apart each)
    assert [label for _, _, label in sorted(ran)] == sorted(label for _, _, label in ran)
    assert len(seen_queued) >= 2, "waiting runs were never recorded QUEUED"
    waited = store.get(outcomes[-1].run_id)
    assert waited is not None and waited.context["concurrency"]["waiting_for"] == (
        "concurrency group 'sales-eu' (limit 1)"
    )
    assert waited.context["concurrency"]["waited_seconds"] > 0


def test_when_full_skip_records_skip_with_the_reason(store: AuditBackend, tmp_path: Path) -> None:
    folder = write_conf(
        tmp_path / "conf",
        """
        etl:
          type: Workflow
          concurrency: {group: nightly, when-full: skip}
          jobs:
            load:
              stages:
                - {name: wait, bash: sleep 1.5}
        """,
    )
    first, second = release_in_threads(load(folder, "etl"), store, 2, stagger=0.7)
    assert first.status == "SUCCESS"
    assert second.status == "SKIP"
    record = store.get(second.run_id)
    assert record is not None and record.status is ReleaseStatus.SKIP
    assert record.errors[-1]["message"] == "concurrency group 'nightly' (limit 1): it is full"
    assert "it is full" in second.reason


def test_a_bounded_queue_skips_the_run_that_finds_it_full(store: AuditBackend, tmp_path: Path) -> None:
    folder = write_conf(
        tmp_path / "conf",
        """
        etl:
          type: Workflow
          concurrency: {group: nightly, queue: 1}
          jobs:
            load:
              stages:
                - {name: wait, bash: sleep 2}
        """,
    )
    outcomes = release_in_threads(load(folder, "etl"), store, 3, stagger=0.5)
    assert [o.status for o in outcomes] == ["SUCCESS", "SUCCESS", "SKIP"]
    assert "1 already wait" in store.get(outcomes[2].run_id).errors[-1]["message"]  # type: ignore[union-attr]


def test_cancel_in_progress_cancels_the_running_run(store: AuditBackend, tmp_path: Path) -> None:
    folder = write_conf(
        tmp_path / "conf",
        """
        deploy:
          type: Workflow
          concurrency: {group: prod, cancel-in-progress: true}
          params:
            seconds: {type: int, default: 60}
          jobs:
            roll:
              stages:
                - {name: roll, bash: 'sleep ${{ params.seconds }}'}
        """,
    )
    workflow = load(folder, "deploy")
    holder = threading.Thread(target=lambda: workflow.release(T0, audit=store))
    holder.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not store.list(status=ReleaseStatus.RUNNING):
        time.sleep(0.05)
    time.sleep(0.5)  # the first run is inside its stage
    started = time.monotonic()
    newer = workflow.release(T0 + timedelta(minutes=1), {"seconds": 0}, audit=store)
    holder.join(60)
    assert newer.status == "SUCCESS"
    (older,) = store.attempts("deploy", T0)
    assert older.status is ReleaseStatus.CANCEL
    assert newer.run_id in str(older.errors) and "cancel-in-progress" in str(older.errors)
    assert time.monotonic() - started < 50, "the newer run waited for the old one to finish"


def test_a_run_cancelled_while_queued_is_recorded_cancel_and_never_runs(
    store: AuditBackend, tmp_path: Path
) -> None:
    log = tmp_path / "ran.log"
    folder = write_conf(
        tmp_path / "conf",
        f"""
        etl:
          type: Workflow
          concurrency: only-one
          jobs:
            load:
              stages:
                - name: load
                  bash: '{timed_stage(log, 1.5)}'
        """,
    )
    workflow = load(folder, "etl")
    first = threading.Thread(target=lambda: workflow.release(T0, audit=store))
    first.start()
    time.sleep(0.5)
    scope = CancelScope()
    outcome: list[Any] = []
    second = threading.Thread(
        target=lambda: outcome.append(
            workflow.release(T0 + timedelta(minutes=1), audit=store, run_options={"scope": scope})
        )
    )
    second.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not store.list(status=ReleaseStatus.QUEUED):
        time.sleep(0.05)
    scope.cancel("stopped by the test")
    second.join(30)
    first.join(30)
    assert outcome[0].status == "CANCEL"
    assert store.get(outcome[0].run_id).errors[-1]["message"] == "stopped by the test"  # type: ignore[union-attr]
    assert len(spans(log)) == 1


def test_max_active_runs_holds_for_a_backfill_of_twenty_ticks(store: AuditBackend, tmp_path: Path) -> None:
    log = tmp_path / "ran.log"
    folder = write_conf(
        tmp_path / "conf",
        f"""
        hourly:
          type: Workflow
          max-active-runs: 2
          on:
            - cronjob: "0 * * * *"
          jobs:
            load:
              stages:
                - name: load
                  bash: '{timed_stage(log, 0.3)}'
        """,
    )
    workflow = load(folder, "hourly")
    from runwright.schedule.backfill import BackfillTarget

    plan = plan_backfill([BackfillTarget(workflow, workflow.on)], T0, T0 + timedelta(hours=19), store)
    assert len(plan) == 20
    done = run_backfill(plan, store, max_active=8)
    assert [item.outcome.status for item in done].count("SUCCESS") == 20
    assert most_at_once(spans(log)) == 2
    assert len(spans(log)) == 20


def test_a_pool_with_weights_never_runs_past_its_slots(store: AuditBackend, tmp_path: Path) -> None:
    log = tmp_path / "ran.log"
    folder = write_conf(
        tmp_path / "conf",
        f"""
        warehouse:
          type: Pool
          slots: 3
        fanout:
          type: Workflow
          jobs:
            heavy:
              pool: warehouse
              pool-slots: 2
              strategy:
                max-parallel: 6
                matrix:
                  part: [1, 2, 3, 4]
              stages:
                - name: load
                  bash: '{timed_stage(log, 0.4, "heavy-${{ matrix.part }}")}'
            light:
              strategy:
                max-parallel: 6
                matrix:
                  part: [1, 2, 3, 4]
              stages:
                - name: load
                  pool: warehouse
                  bash: '{timed_stage(log, 0.4, "light-${{ matrix.part }}")}'
        """,
    )
    outcome = load(folder, "fanout").release(T0, audit=store)
    assert outcome.status == "SUCCESS"
    ran = spans(log)
    assert len(ran) == 8
    weight = {"heavy": 2, "light": 1}
    events = sorted(
        [(s, weight[label.split("-")[0]]) for s, _, label in ran]
        + [(e, -weight[label.split("-")[0]]) for _, e, label in ran]
    )
    used = peak = 0
    for _, step in events:
        used += step
        peak = max(peak, used)
    assert peak <= 3
    assert store.list_leases() == []  # every slot given back


def test_an_undeclared_pool_fails_the_job_naming_the_pools_declared(
    store: AuditBackend, tmp_path: Path
) -> None:
    folder = write_conf(
        tmp_path / "conf",
        """
        warehouse:
          type: Pool
          slots: 3
        etl:
          type: Workflow
          jobs:
            load:
              pool: warehous
              stages:
                - {name: s, bash: "true"}
        """,
    )
    outcome = load(folder, "etl").release(T0, audit=store)
    assert outcome.status == "FAILED"
    message = str(store.get(outcome.run_id).errors)  # type: ignore[union-attr]
    assert "pool 'warehous' is not declared" in message and "did you mean 'warehouse'" in message


def test_a_job_group_uses_the_matrix_and_keeps_strategies_apart(store: AuditBackend, tmp_path: Path) -> None:
    log = tmp_path / "ran.log"
    folder = write_conf(
        tmp_path / "conf",
        f"""
        per-region:
          type: Workflow
          jobs:
            load:
              concurrency: region-${{{{ matrix.region }}}}
              strategy:
                max-parallel: 4
                matrix:
                  region: [eu, us]
                  part: [1, 2]
              stages:
                - name: load
                  bash: '{timed_stage(log, 0.4, "${{ matrix.region }}-${{ matrix.part }}")}'
        """,
    )
    outcome = load(folder, "per-region").release(T0, audit=store)
    assert outcome.status == "SUCCESS"
    ran = spans(log)
    for region in ("eu", "us"):
        assert most_at_once([span for span in ran if span[2].startswith(region)]) == 1
    assert most_at_once(ran) == 2  # the two regions did run side by side
