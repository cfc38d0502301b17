"""Runs over time, against each store: every run knows its logical date (``release``), date
params follow it, and a backfill runs the right dates and can be redone (issue 23)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from runwright.audit import AuditBackend, ReleaseStatus

DAILY = """
daily:
  type: Workflow
  on: [{cronjob: '30 6 * * *', timezone: UTC}]
  params:
    run-date: {type: date}
    label: {type: str, default: "day-${{ release.logical_date | fmt('%Y%m%d') }}"}
  jobs:
    j:
      stages:
        - id: fail-on-the-2nd
          if: "${{ params['run-date'] | string == '2024-03-02' and release.attempt == 1 }}"
          raise: "bad day"
        - id: s
          echo: "date=${{ params.run-date }}"
        - id: r
          run: |
            logical = "${{ release.logical_date }}"
            start = "${{ release.data_interval_start }}"
            end = "${{ release.data_interval_end }}"
            kind = "${{ release.type }}"
            attempt = "${{ release.attempt }}"
"""

DST = """
new-york:
  type: Workflow
  on: [{cronjob: '30 1 * * *', timezone: America/New_York}]
  params: {run-at: datetime}
  jobs: {j: {stages: [{id: s, echo: "at ${{ params.run-at }}"}]}}
"""

SEED_PAIR = """
run-py-local:
  type: Workflow
  on:
    - cronjob: '*/5 * * * *'
      timezone: "Asia/Bangkok"
  params:
    source-extract: str
    run-date: datetime
  jobs:
    getting-api-data:
      stages:
        - id: retrieve-api
          echo: "${{ params.source-extract }} ${{ params.run-date | fmt(fmt='%Y%m%d%H%M') }}"

schedule-run-local-wf:
  type: Schedule
  workflows:
    - name: run-py-local
      params:
        source-extract: "USD-THB"
        asat-dt: "${{ release.logical_date }}"
"""


def write(folder: Path, text: str) -> Path:
    conf = folder / "conf"
    conf.mkdir(exist_ok=True)
    (conf / "templates.yml").write_text(textwrap.dedent(text), encoding="utf-8")
    return conf


def cli(audit_url: str, folder: Path, *args: str) -> Any:
    from runwright.cli import schedule as _schedule  # noqa: F401 - registers backfill
    from runwright.cli.app import app

    env = {"RUNWRIGHT_AUDIT_URL": audit_url, "RUNWRIGHT_LOG_PATH": str(folder / "logs")}
    return CliRunner().invoke(app, list(args), env=env)


def by_date(records: list[Any]) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for record in sorted(records, key=lambda r: (r.release, r.attempt)):
        found.setdefault(record.release.astimezone(UTC).isoformat(), []).append(record)
    return found


def outputs(record: Any, stage: str) -> dict[str, Any]:
    return record.context["jobs"]["j"]["stages"][stage]["outputs"]


def test_backfill_runs_each_tick_for_its_date_and_a_date_end_includes_the_day(
    audit_url: str, tmp_path: Path, open_backend: Callable[[str], AuditBackend]
) -> None:
    conf = write(tmp_path, DAILY)
    result = cli(
        audit_url,
        tmp_path,
        "backfill",
        "daily",
        "--start",
        "2024-03-01",
        "--end",
        "2024-03-03",
        "--conf",
        str(conf),
    )
    assert result.exit_code == 1, result.output  # the 2nd fails on its first attempt
    records = by_date(open_backend(audit_url).list(workflow="daily"))
    days = ["2024-03-01", "2024-03-02", "2024-03-03"]
    assert list(records) == [f"{day}T06:30:00+00:00" for day in days]  # 03-03 06:30 included
    for day, (record,) in zip(days, records.values(), strict=True):
        assert record.type.value == "backfill"
        assert record.params["run-date"] == day  # not today
        assert record.params["label"] == "day-" + day.replace("-", "")
        if day == "2024-03-02":
            assert record.status is ReleaseStatus.FAILED
            continue
        assert record.status is ReleaseStatus.SUCCESS
        release = outputs(record, "r")
        previous = (date.fromisoformat(day) - timedelta(days=1)).isoformat()
        assert release == {
            "logical": f"{day}T06:30:00+00:00",
            "start": f"{previous}T06:30:00+00:00",
            "end": f"{day}T06:30:00+00:00",
            "kind": "backfill",
            "attempt": "1",
        }
        assert record.context["release"]["logical_date"] == f"{day}T06:30:00+00:00"


def test_backfill_only_failed_force_and_dry_run(
    audit_url: str, tmp_path: Path, open_backend: Callable[[str], AuditBackend]
) -> None:
    conf = write(tmp_path, DAILY)
    window = ("--start", "2024-03-01", "--end", "2024-03-03", "--conf", str(conf))
    cli(audit_url, tmp_path, "backfill", "daily", *window)
    backend = open_backend(audit_url)

    again = cli(audit_url, tmp_path, "backfill", "daily", *window)
    assert again.output.count("already SUCCESS, skipped") == 2, again.output
    assert again.exit_code == 0, again.output  # the failed day ran again and succeeded

    backend_records = by_date(backend.list(workflow="daily"))
    assert [len(attempts) for attempts in backend_records.values()] == [1, 2, 1]

    plan = cli(audit_url, tmp_path, "backfill", "daily", *window, "--force", "--dry-run", "--json")
    assert plan.exit_code == 0, plan.output
    ticks = json.loads(plan.output)["ticks"]
    assert [t["action"] for t in ticks] == ["new attempt"] * 3
    assert [t["params"]["run-date"] for t in ticks] == ["2024-03-01", "2024-03-02", "2024-03-03"]
    assert len(backend.list(workflow="daily")) == 4  # a dry run claims nothing

    forced = cli(audit_url, tmp_path, "backfill", "daily", *window, "--force")
    assert forced.exit_code == 0, forced.output
    records = by_date(backend.list(workflow="daily"))
    assert [[r.attempt for r in attempts] for attempts in records.values()] == [[1, 2], [1, 2, 3], [1, 2]]
    latest = [attempts[-1] for attempts in records.values()]
    assert [r.params["run-date"] for r in latest] == ["2024-03-01", "2024-03-02", "2024-03-03"]
    assert [outputs(r, "r")["attempt"] for r in latest] == ["2", "3", "2"]

    nothing = cli(audit_url, tmp_path, "backfill", "daily", *window, "--only-failed")
    assert nothing.exit_code == 0 and nothing.output.count("(--only-failed), skipped") == 3, nothing.output
    assert len(backend.list(workflow="daily")) == 7


def test_only_failed_redoes_only_the_failed_day(
    audit_url: str, tmp_path: Path, open_backend: Callable[[str], AuditBackend]
) -> None:
    conf = write(tmp_path, DAILY)
    window = ("--start", "2024-03-01", "--end", "2024-03-04T00:00", "--conf", str(conf))
    cli(audit_url, tmp_path, "backfill", "daily", *window)
    redo = cli(
        audit_url,
        tmp_path,
        "backfill",
        "daily",
        "--start",
        "2024-02-28",
        "--end",
        "2024-03-03",
        "--only-failed",
        "--conf",
        str(conf),
    )
    assert redo.exit_code == 0, redo.output
    records = by_date(open_backend(audit_url).list(workflow="daily"))
    assert {day: [r.attempt for r in attempts] for day, attempts in records.items()} == {
        "2024-03-01T06:30:00+00:00": [1],
        "2024-03-02T06:30:00+00:00": [1, 2],
        "2024-03-03T06:30:00+00:00": [1],
    }  # 02-28 and 02-29 never ran: --only-failed leaves them alone
    assert records["2024-03-02T06:30:00+00:00"][-1].status is ReleaseStatus.SUCCESS


def test_a_dst_fall_back_night_gives_two_runs_with_distinct_dates_and_params(
    audit_url: str, tmp_path: Path, open_backend: Callable[[str], AuditBackend]
) -> None:
    conf = write(tmp_path, DST)
    result = cli(
        audit_url,
        tmp_path,
        "backfill",
        "new-york",
        "--start",
        "2025-11-02",
        "--end",
        "2025-11-02",
        "--conf",
        str(conf),
    )
    assert result.exit_code == 0, result.output
    records = sorted(open_backend(audit_url).list(workflow="new-york"), key=lambda r: r.release)
    assert [r.release.astimezone(UTC) for r in records] == [
        datetime(2025, 11, 2, 5, 30, tzinfo=UTC),
        datetime(2025, 11, 2, 6, 30, tzinfo=UTC),
    ]
    assert [r.params["run-at"] for r in records] == ["2025-11-02T01:30:00-04:00", "2025-11-02T01:30:00-05:00"]
    assert [r.context["release"]["logical_date"] for r in records] == [r.params["run-at"] for r in records]


def test_the_seed_schedule_and_the_workflow_backfill_the_same_dates(
    audit_url: str, tmp_path: Path, open_backend: Callable[[str], AuditBackend]
) -> None:
    """The seed's pair: each tick's run-date is that tick, whether the Schedule or the
    workflow's own ``on:`` is backfilled."""
    conf = write(tmp_path, SEED_PAIR)
    window = ("--start", "2024-01-01T00:00", "--end", "2024-01-01T00:10", "--conf", str(conf))
    scheduled = cli(audit_url, tmp_path, "backfill", "schedule-run-local-wf", *window)
    assert scheduled.exit_code == 0, scheduled.output
    own = cli(
        audit_url, tmp_path, "backfill", "run-py-local", *window, "--force", "-p", "source-extract=USD-THB"
    )
    assert own.exit_code == 0, own.output
    records = by_date(open_backend(audit_url).list(workflow="run-py-local"))
    # 00:00, 00:05 and 00:10 in Bangkok (+07:00)
    assert list(records) == [datetime(2023, 12, 31, 17, m, tzinfo=UTC).isoformat() for m in (0, 5, 10)]
    for attempts in records.values():
        assert [r.attempt for r in attempts] == [1, 2]
        for record in attempts:
            logical = record.release.astimezone(UTC)
            assert datetime.fromisoformat(record.params["run-date"]) == logical
            assert record.params["run-date"].endswith("+07:00")  # in the cron's zone
        assert attempts[0].params["asat-dt"] == attempts[0].params["run-date"]


def test_run_with_a_logical_date_and_the_header(
    audit_url: str, tmp_path: Path, open_backend: Callable[[str], AuditBackend]
) -> None:
    from runwright.cli import runs as _runs  # noqa: F401 - registers run

    conf = write(tmp_path, DAILY)
    result = cli(
        audit_url, tmp_path, "run", "daily", "--logical-date", "2024-03-05T06:30", "--conf", str(conf)
    )
    assert result.exit_code == 0, result.output
    assert "logical date 2024-03-05T06:30:00+00:00 (from --logical-date)" in result.output
    assert "param run-date = 2024-03-05 (from the logical date)" in result.output
    [record] = open_backend(audit_url).list(workflow="daily")
    assert record.release == datetime(2024, 3, 5, 6, 30, tzinfo=UTC)
    assert record.params["run-date"] == "2024-03-05"
    assert outputs(record, "r")["kind"] == "manual"
    assert outputs(record, "r")["start"] == "2024-03-04T06:30:00+00:00"
    from runwright.cli import audit as _audit  # noqa: F401 - registers audit

    listed = cli(audit_url, tmp_path, "audit", "list", "--conf", str(conf))
    assert "logical 2024-03-05T06:30:00+00:00" in listed.output and " took " in listed.output, listed.output


SLOW = """
slow:
  type: Workflow
  on: [{cronjob: '0 * * * *'}]
  jobs: {j: {stages: [{id: s, bash: "sleep 30"}]}}
"""


def test_ctrl_c_cancels_the_running_tick_records_it_and_starts_no_more(
    audit_url: str, tmp_path: Path, open_backend: Callable[[str], AuditBackend]
) -> None:
    conf = write(tmp_path, SLOW)
    command = [
        sys.executable, "-m", "runwright", "backfill", "slow",
        "--start", "2024-01-01T00:00", "--end", "2024-01-01T03:00", "--conf", str(conf),
    ]  # fmt: skip
    env = {**os.environ, "RUNWRIGHT_AUDIT_URL": audit_url, "RUNWRIGHT_LOG_PATH": str(tmp_path / "logs")}
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    backend = open_backend(audit_url)
    try:
        deadline = time.monotonic() + 30
        while not backend.list(workflow="slow") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert backend.list(workflow="slow"), "the first tick never started"
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 1, (stdout, stderr)
    assert "interrupted: 3 tick(s) not started" in stderr
    assert "Traceback" not in stderr
    [record] = backend.list(workflow="slow")
    assert record.status is ReleaseStatus.CANCEL
    assert record.release == datetime(2024, 1, 1, tzinfo=UTC)
    assert backend.list(status=ReleaseStatus.RUNNING) == []


OVERLAP = """
hourly:
  type: Workflow
  on: [{cronjob: '0 * * * *'}]
  params: {log: {type: str, default: LOG}}
  jobs:
    j:
      stages:
        - id: s
          bash: |
            echo "start ${{ release.logical_date | fmt('%H') }}" >> "${{ params.log }}"
            sleep 0.5
            echo "end ${{ release.logical_date | fmt('%H') }}" >> "${{ params.log }}"
"""


@pytest.mark.parametrize("max_active", [1, 2])
def test_ticks_start_in_logical_date_order_max_active_at_a_time(
    audit_url: str, tmp_path: Path, open_backend: Callable[[str], AuditBackend], max_active: int
) -> None:
    log = tmp_path / "order.log"
    conf = write(tmp_path, OVERLAP.replace("LOG", str(log)))
    window = ("--start", "2024-01-01T00:00", "--end", "2024-01-01T03:00", "--conf", str(conf))
    result = cli(audit_url, tmp_path, "backfill", "hourly", *window, "--max-active", str(max_active))
    assert result.exit_code == 0, result.output
    lines = log.read_text().splitlines()
    records = open_backend(audit_url).list(workflow="hourly")
    claimed = [r.release.strftime("%H") for r in sorted(records, key=lambda r: r.started)]
    assert claimed == ["00", "01", "02", "03"]  # claimed and started in logical-date order
    if max_active == 1:
        assert [line.split()[1] for line in lines if line.startswith("start")] == claimed
    running, most = 0, 0
    for line in lines:
        running += 1 if line.startswith("start") else -1
        most = max(most, running)
    assert most == max_active  # never more at once; with 2, two did run together
    assert {r.status for r in records} == {ReleaseStatus.SUCCESS}
