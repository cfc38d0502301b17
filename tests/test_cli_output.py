"""What the command line prints: the version, the workflow list, and a run's live lines and summary."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

from tests.conftest import run_cli


def test_version_prints_the_installed_version() -> None:
    done = run_cli("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"runwright {version('runwright')}"


def test_list_shows_next_tick_last_status_and_tags(conf: Callable[..., Path]) -> None:
    folder = conf("""
    nightly:
      type: Workflow
      tags: [finance, daily]
      on: [{cronjob: '0 3 * * *', timezone: UTC}]
      jobs: {j: {stages: [{id: s, echo: hi}]}}
    manual:
      type: Workflow
      params: {token: {type: str, default: "${SOME_API_TOKEN_NOT_SET}"}}
      jobs: {j: {stages: [{id: s, echo: hi}]}}
    broken:
      type: Workflow
      jobs: {j: {stages: [{id: s, eche: hi}]}}
    """)
    assert run_cli("run", "nightly", "--conf", str(folder)).returncode == 0
    listed = run_cli("list", "--conf", str(folder), "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    assert set(rows) == {"nightly", "manual", "broken"}
    assert rows["nightly"]["tags"] == ["finance", "daily"] and rows["nightly"]["last"] == "SUCCESS"
    assert rows["nightly"]["next"].endswith("T03:00:00+00:00")
    assert rows["manual"]["next"] is None and rows["manual"]["problem"] is None  # unset ${VAR}: still listed
    assert rows["broken"]["problem"] and "eche" in rows["broken"]["problem"]
    text = run_cli("list", "--conf", str(folder))
    [nightly] = [line for line in text.stdout.splitlines() if line.startswith("nightly")]
    assert "last SUCCESS" in nightly and "tags finance,daily" in nightly
    assert any(line.startswith("broken") and "INVALID" in line for line in text.stdout.splitlines())


def test_a_continue_on_error_stage_reads_the_same_live_and_in_the_summary(conf: Callable[..., Path]) -> None:
    folder = conf("""
    tolerant:
      type: Workflow
      jobs:
        j:
          stages:
            - {id: optional, bash: "exit 3", continue-on-error: true}
            - {id: after, echo: "still here"}
    """)
    done = run_cli("run", "tolerant", "--conf", str(folder))
    assert done.returncode == 0, done.stderr
    assert "stage j/optional: SUCCESS (failed, continue-on-error)" in done.stdout  # the live line
    assert "    optional: SUCCESS (failed, continue-on-error)" in done.stdout  # the summary
    assert "stage j/optional: FAILED" not in done.stdout


def test_the_summary_marks_where_it_cut_a_long_output(conf: Callable[..., Path]) -> None:
    folder = conf("""
    big:
      type: Workflow
      jobs:
        j:
          stages:
            - {id: out, run: "data = 'x' * 1000"}
    """)
    done = run_cli("run", "big", "--conf", str(folder))
    assert done.returncode == 0, done.stderr
    [line] = [line for line in done.stdout.splitlines() if line.startswith("    out: SUCCESS")]
    assert "…" in line and "more characters" in line
    assert len(line) < 400
    full = run_cli("run", "big", "--conf", str(folder), "--json")
    assert json.loads(full.stdout)["context"]["jobs"]["j"]["stages"]["out"]["outputs"]["data"] == "x" * 1000


def test_runs_lists_recent_runs_with_logical_date_duration_and_error(conf: Callable[..., Path]) -> None:
    folder = conf("""
    good:
      type: Workflow
      jobs: {j: {stages: [{id: s, echo: hi}]}}
    bad:
      type: Workflow
      jobs: {j: {stages: [{id: s, bash: "exit 7"}]}}
    """)
    assert run_cli("run", "good", "--conf", str(folder)).returncode == 0
    assert run_cli("run", "bad", "--conf", str(folder)).returncode == 1
    listed = run_cli("runs", "--conf", str(folder), "--json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [row["workflow"] for row in rows] == ["bad", "good"]  # newest first
    bad, good = rows
    assert bad["status"] == "FAILED" and "exited with code 7" in bad["error"]
    assert good["status"] == "SUCCESS" and good["error"] is None and good["seconds"] >= 0
    assert good["logical_date"] and good["type"] == "manual"
    only_failed = json.loads(run_cli("runs", "--conf", str(folder), "--json", "--status", "failed").stdout)
    assert [row["workflow"] for row in only_failed] == ["bad"]
    one = json.loads(run_cli("runs", "--conf", str(folder), "--json", "-w", "good").stdout)
    assert [row["workflow"] for row in one] == ["good"]
    text = run_cli("runs", "--conf", str(folder)).stdout.splitlines()
    assert text[0].split() == [
        "RUN", "WORKFLOW", "LOGICAL", "DATE", "BY", "STATUS", "STARTED", "DURATION", "TAGS/LABELS",
    ]  # fmt: skip
    assert "exited with code 7" in text[1] and text[1].split()[1] == "bad"
    wrong = run_cli("runs", "--conf", str(folder), "--status", "DONE")
    assert wrong.returncode == 2 and "unknown status 'DONE'" in wrong.stderr


def test_scheduler_lines_on_stdout_carry_the_same_timestamp_as_stderr(conf: Callable[..., Path]) -> None:
    import re

    folder = conf("""
    minutely:
      type: Workflow
      on: [{cronjob: '* * * * *', timezone: UTC}]
      jobs: {j: {stages: [{id: s, echo: hi}]}}
    """)
    done = run_cli(
        "scheduler", "--conf", str(folder),
        "--simulate-from", "2024-01-01T00:00:30+00:00", "--until", "2024-01-01T00:02:30+00:00",
    )
    assert done.returncode == 0, done.stderr
    stamp = r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (INFO|WARNING) "
    released = [line for line in done.stdout.splitlines() if "minutely @ " in line]
    assert len(released) == 2 and all(re.match(stamp + "minutely @ ", line) for line in released), done.stdout
    logged = [line for line in done.stderr.splitlines() if line.strip()]
    assert logged and all(re.match(stamp, line) for line in logged if not line.startswith((" ", "warning:"))), done.stderr


def _start_slow_run(conf: Callable[..., Path], logs: Path) -> tuple[subprocess.Popen[str], str]:
    import sys

    folder = conf("""
    slow:
      type: Workflow
      jobs:
        j:
          stages:
            - {id: first, echo: "first line"}
            - {id: wait, bash: "sleep 6"}
            - {id: last, echo: "last line"}
    """)
    run = subprocess.Popen(
        [sys.executable, "-m", "runwright", "run", "slow", "--conf", str(folder), "--quiet"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True,
    )
    deadline = time.monotonic() + 60
    while not list(logs.glob("*.jsonl")) and time.monotonic() < deadline:
        time.sleep(0.05)
    [trace] = list(logs.glob("*.jsonl"))
    return run, trace.stem


def test_logs_follow_prints_lines_as_they_come_until_the_run_ends(conf, isolated_env) -> None:
    run, run_id = _start_slow_run(conf, isolated_env)
    try:
        assert run.poll() is None  # the run is still going when we start following it
        followed = run_cli("logs", run_id, "--follow", "--conf", str(isolated_env.parent / "conf"), timeout=90)
        assert followed.returncode == 0, followed.stderr
        assert "first line" in followed.stdout and "last line" in followed.stdout
        assert followed.stdout.strip().splitlines()[-1].split()[2].rstrip(":") == "run-end"
        assert run.wait(timeout=30) == 0
    finally:
        run.kill()


def test_logs_follow_ends_when_the_run_is_killed(conf, isolated_env) -> None:
    run, run_id = _start_slow_run(conf, isolated_env)
    try:
        time.sleep(1.0)
        run.kill()  # SIGKILL: the trace never gets its run-end event
        run.wait(timeout=30)
        followed = run_cli("logs", run_id, "--follow", "--conf", str(isolated_env.parent / "conf"), timeout=90)
        assert followed.returncode == 0, followed.stderr
        assert "the run ended CRASHED (recorded)" in followed.stdout
    finally:
        run.kill()
