"""Rerun from failure (reusing what succeeded), run traces and live progress."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys

from tests.conftest import REPO, run_cli

RERUN_WF = """
pipeline:
  type: Workflow
  params: {{threshold: {{type: int, default: 10}}}}
  jobs:
    extract:
      stages:
        - {{id: count, bash: 'echo run >> {counter}; echo "rows=5" >> "$RUNWRIGHT_OUTPUT"'}}
    check:
      needs: [extract]
      strategy: {{matrix: {{part: [a, b]}}}}
      stages:
        - id: first
          bash: echo "check-${{{{ matrix.part }}}}" >> {counter}
        - id: gate
          bash: |
            [ "${{{{ matrix.part }}}}" = a ] || [ "${{GATE_OPEN:-no}}" = yes ]
    load:
      needs: [check]
      stages:
        - id: prepare
          run: rows = int(${{{{ jobs.extract.stages.count.outputs.rows }}}})
        - id: must-pass
          bash: '[ ${{{{ stages.prepare.outputs.rows }}}} -lt ${{{{ params.threshold }}}} ]'
"""


def test_rerun_after_env_fix_reuses_what_succeeded(conf, tmp_path, isolated_env) -> None:
    counter = tmp_path / "counter"
    folder = conf(RERUN_WF.format(counter=counter))
    env = {"RUNWRIGHT_LOG_PATH": str(isolated_env)}
    first = run_cli("run", "pipeline", "--conf", str(folder), "--json", env=env)
    assert first.returncode == 1
    failed = json.loads(first.stdout)
    strategies = failed["context"]["jobs"]["check"]["strategies"]
    assert strategies["a"]["status"] == "SUCCESS" and strategies["b"]["status"] == "FAILED"
    assert failed["context"]["jobs"]["load"]["status"] == "SKIP"
    assert sorted(counter.read_text().split()) == ["check-a", "check-b", "run"]

    second = run_cli(
        "rerun", failed["run_id"], "--conf", str(folder), "--json", env={**env, "GATE_OPEN": "yes"}
    )
    assert second.returncode == 0, second.stderr
    fixed = json.loads(second.stdout)
    assert fixed["status"] == "SUCCESS" and fixed["run_id"] != failed["run_id"]
    jobs = fixed["context"]["jobs"]
    assert jobs["extract"]["reused"] is True
    assert jobs["check"]["strategies"]["a"]["reused"] is True
    assert jobs["check"]["strategies"]["b"]["stages"]["first"]["reused"] is True
    assert jobs["load"]["stages"]["must-pass"]["status"] == "SUCCESS"
    # only the failed gate ran again: no second "run", no second check-a or check-b
    assert sorted(counter.read_text().split()) == ["check-a", "check-b", "run"]


def test_rerun_with_a_changed_param(conf, tmp_path, isolated_env) -> None:
    folder = conf(RERUN_WF.format(counter=tmp_path / "c"))
    env = {"RUNWRIGHT_LOG_PATH": str(isolated_env), "GATE_OPEN": "yes"}
    first = json.loads(
        run_cli("run", "pipeline", "-p", "threshold=3", "--conf", str(folder), "--json", env=env).stdout
    )
    assert first["status"] == "FAILED"
    assert first["context"]["jobs"]["load"]["stages"]["must-pass"]["status"] == "FAILED"
    again = run_cli("rerun", first["run_id"], "-p", "threshold=30", "--conf", str(folder), "--json", env=env)
    second = json.loads(again.stdout)
    assert second["status"] == "SUCCESS"
    assert second["context"]["params"]["threshold"] == 30
    load = second["context"]["jobs"]["load"]["stages"]
    assert load["prepare"]["reused"] is True and load["prepare"]["outputs"] == {"rows": 5}
    assert load["must-pass"]["status"] == "SUCCESS" and "reused" not in load["must-pass"]


def test_rerun_of_unknown_run_is_a_usage_error() -> None:
    result = run_cli("rerun", "no-such-run")
    assert result.returncode == 2 and "no release record with run id 'no-such-run'" in result.stderr


def test_logs_prints_trace_with_output_lines_and_masked_secrets(conf, isolated_env) -> None:
    folder = conf("""
    noisy:
      type: Workflow
      jobs:
        j:
          stages:
            - id: talk
              bash: |
                echo "to stdout with $DB_PASSWORD"
                echo "to stderr" >&2
              env: {DB_PASSWORD: "${APP_DB_PASSWORD}"}
    """)
    env = {"RUNWRIGHT_LOG_PATH": str(isolated_env), "APP_DB_PASSWORD": "hunter2-pw"}
    run = json.loads(run_cli("run", "noisy", "--conf", str(folder), "--json", env=env).stdout)
    shown = run_cli("logs", run["run_id"], env=env)
    assert shown.returncode == 0
    assert "j/talk stdout: to stdout with ***" in shown.stdout
    assert "j/talk stderr: to stderr" in shown.stdout
    assert "hunter2-pw" not in shown.stdout
    raw = run_cli("logs", run["run_id"], "--json", env=env)
    events = [json.loads(line) for line in raw.stdout.splitlines()]
    assert {"run_id", "parent_run_id", "workflow", "event", "time"} <= set(events[0])
    assert all(e["run_id"] == run["run_id"] for e in events)
    files = os.listdir(isolated_env)
    assert all("hunter2-pw" not in (isolated_env / f).read_text() for f in files)
    missing = run_cli("logs", "nope", env=env)
    assert missing.returncode == 2 and "no trace for run 'nope'" in missing.stderr


def test_plain_progress_lines_when_not_a_terminal() -> None:
    result = run_cli("run", "hello-world", "--conf", str(REPO / "conf"))
    lines = result.stdout.splitlines()
    assert "stage greet/say-hello: SUCCESS" in lines
    assert lines.index("job greet: SUCCESS") < lines.index("stage report/summary: SUCCESS")
    # what the stages print streams before their end, prefixed by job/stage
    assert lines.index("greet/say-hello | hello WORLD!") < lines.index("stage greet/say-hello: SUCCESS")
    assert "report/summary | hello world hello world (5 letters)" in lines


def test_quiet_shows_only_the_summary() -> None:
    result = run_cli("run", "hello-world", "--conf", str(REPO / "conf"), "--quiet")
    assert result.returncode == 0
    assert "hello WORLD!" not in result.stdout
    assert "stage greet/say-hello: SUCCESS" not in result.stdout
    assert "of hello-world: SUCCESS" in result.stdout


def test_live_progress_on_a_terminal(tmp_path) -> None:
    """Run the CLI on a real pseudo-terminal and read what it drew."""
    primary, secondary = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "runwright", "run", "hello-world", "--conf", str(REPO / "conf")],
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        cwd=tmp_path,
        env={**os.environ, "TERM": "xterm-256color", "COLUMNS": "120"},
    )
    os.close(secondary)
    chunks = []
    while True:
        try:
            data = os.read(primary, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    process.wait(timeout=60)
    os.close(primary)
    screen = b"".join(chunks).decode("utf-8", "replace")
    assert process.returncode == 0
    assert "✓ greet" in screen and "✓ say-hello" in screen  # the live board
    assert "greet/say-hello | hello WORLD!" in screen  # stage output printed above it
    assert "stage greet/say-hello: SUCCESS" not in screen  # not the plain lines
    assert "hello-world: SUCCESS" in screen
