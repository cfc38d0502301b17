"""``runwright backfill`` as users run it: real processes, both stores.

Racing backfills of one range run every tick exactly once, and a backfill over a
daylight-saving night runs every tick (both 01:10s of a clocks-back night) without a
traceback.

``RUNWRIGHT_TEST_BACKFILL_REPEAT`` (default 1) repeats each race; the issue's full figure is
20 (``RUNWRIGHT_TEST_BACKFILL_REPEAT=20 uv run pytest tests/audit/test_backfill.py``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from runwright.audit import AuditBackend, ReleaseStatus

REPEAT = int(os.environ.get("RUNWRIGHT_TEST_BACKFILL_REPEAT", "1"))
TICKS = 100
FIRST_TICK = datetime(2024, 1, 1, tzinfo=UTC)
TEMPLATES = """
every-minute:
  type: Workflow
  on: [{cronjob: "* * * * *"}]
  jobs: {j: {stages: [{id: s, echo: "tick"}]}}

new-york:
  type: Workflow
  on: [{cronjob: "*/10 * * * *", timezone: America/New_York}]
  jobs: {j: {stages: [{id: s, echo: "tick"}]}}
"""


def write_conf(folder: Path) -> Path:
    conf = folder / "conf"
    conf.mkdir()
    (conf / "templates.yml").write_text(textwrap.dedent(TEMPLATES), encoding="utf-8")
    return conf


def backfill_command(conf: Path, workflow: str, start: datetime, end: datetime) -> list[str]:
    return [
        sys.executable, "-m", "runwright", "backfill", workflow,
        "--start", start.isoformat(), "--end", end.isoformat(), "--conf", str(conf),
    ]  # fmt: skip


def environment(audit_url: str, folder: Path) -> dict[str, str]:
    return {**os.environ, "RUNWRIGHT_AUDIT_URL": audit_url, "RUNWRIGHT_LOG_PATH": str(folder / "logs")}


def run_backfills(
    command: list[str], env: dict[str, str], processes: int
) -> list[subprocess.CompletedProcess]:
    """Start ``processes`` backfills at once; wait for all of them (bounded)."""
    started = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for _ in range(processes)
    ]
    finished = []
    try:
        for process in started:
            stdout, stderr = process.communicate(timeout=150)
            finished.append(subprocess.CompletedProcess(command, process.returncode, stdout, stderr))
    finally:
        for process in started:
            process.kill()
    return finished


@pytest.mark.parametrize("repetition", range(REPEAT))
@pytest.mark.parametrize("processes", [2, 4])
def test_concurrent_backfills_run_every_tick_exactly_once(
    audit_url: str,
    tmp_path: Path,
    open_backend: Callable[[str], AuditBackend],
    processes: int,
    repetition: int,
) -> None:
    conf = write_conf(tmp_path)
    last = FIRST_TICK + timedelta(minutes=TICKS - 1)
    command = backfill_command(conf, "every-minute", FIRST_TICK, last)
    results = run_backfills(command, environment(audit_url, tmp_path), processes)
    backend = open_backend(audit_url)
    records = backend.list(workflow="every-minute")
    not_success = [r.model_dump(include={"release", "attempt", "status", "errors", "pid"}) for r in records]
    not_success = [r for r in not_success if r["status"] is not ReleaseStatus.SUCCESS]
    for result in results:
        unexpected = [line for line in result.stdout.splitlines() if "SUCCESS" not in line]
        assert result.returncode == 0, (result.stderr, unexpected, not_success)
        assert "Traceback" not in result.stderr
    per_tick = Counter(record.release for record in records)
    assert sorted(per_tick) == [FIRST_TICK + timedelta(minutes=n) for n in range(TICKS)]
    assert set(per_tick.values()) == {1}, {str(t): n for t, n in per_tick.items() if n != 1}
    assert {record.status for record in records} == {ReleaseStatus.SUCCESS}
    print("ticks run per process:", sorted(Counter(record.pid for record in records).values()))


def test_backfill_over_a_clocks_back_night_runs_each_tick_once(
    audit_url: str, tmp_path: Path, open_backend: Callable[[str], AuditBackend]
) -> None:
    """New York, 2 Nov 2025: 01:00-01:59 happens twice; 04:50Z-06:20Z is ten ticks."""
    conf = write_conf(tmp_path)
    start, end = datetime(2025, 11, 2, 4, 50, tzinfo=UTC), datetime(2025, 11, 2, 6, 20, tzinfo=UTC)
    command = backfill_command(conf, "new-york", start, end)
    env = environment(audit_url, tmp_path)

    [first] = run_backfills(command, env, 1)
    assert first.returncode == 0, first.stderr
    assert "Traceback" not in first.stderr
    lines = first.stdout.splitlines()
    assert len(lines) == 10 and all(": SUCCESS (run " in line for line in lines), first.stdout
    assert lines[1].startswith("2025-11-02T01:00:00-04:00") and lines[7].startswith(
        "2025-11-02T01:00:00-05:00"
    )

    backend = open_backend(audit_url)
    records = backend.list(workflow="new-york")
    assert sorted(record.release for record in records) == [
        start + timedelta(minutes=10 * n) for n in range(10)
    ]
    assert {record.status for record in records} == {ReleaseStatus.SUCCESS}
    assert backend.list(status=ReleaseStatus.RUNNING) == []

    [again] = run_backfills(command, env, 1)
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("already SUCCESS, skipped") == 10
    assert len(backend.list(workflow="new-york")) == 10
