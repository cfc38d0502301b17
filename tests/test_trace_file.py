"""The trace file: every event of a run is in it at the end, and a run that waits shows its
events so far to a reader of the file while it waits (events are buffered, never held back)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from runwright import Status
from runwright.errors import RunIdError
from runwright.trace import read_trace

from tests.conftest import run_cli


def events_in(path: Path) -> list[dict]:
    return list(read_trace(path)) if path.is_file() else []


def test_a_busy_run_writes_every_event_in_order(workflow_from, isolated_env) -> None:
    stages = "\n".join(f"            - id: s{i:03d}\n              echo: message {i}" for i in range(300))
    workflow = workflow_from(f"busy:\n  type: Workflow\n  jobs:\n    only:\n      stages:\n{stages}\n")
    result = workflow.execute()
    events = events_in(Path(result.log_file))
    assert [e["event"] for e in events[:2]] == ["run-start", "job-start"]
    assert [e["event"] for e in events[-2:]] == ["job-end", "run-end"]
    echoes = [e["message"] for e in events if e["event"] == "echo"]
    assert echoes == [f"message {i}" for i in range(300)]
    assert sum(e["event"] == "stage-end" for e in events) == 300


def test_a_waiting_run_shows_its_events_so_far(workflow_from, isolated_env) -> None:
    stages = "\n".join(f"            - id: quick{i}\n              echo: quick {i}" for i in range(20))
    workflow = workflow_from(
        "waits:\n  type: Workflow\n  jobs:\n    only:\n      stages:\n"
        f"{stages}\n"
        "            - id: wait\n              echo: waiting\n              sleep: 30\n"
    )
    handle = workflow.start()
    path = isolated_env / f"{handle.run_id}.jsonl"
    try:
        deadline = time.monotonic() + 10
        seen: list[str] = []
        while time.monotonic() < deadline and "waiting" not in seen:
            seen = [e.get("message", "") for e in events_in(path) if e["event"] == "echo"]
            time.sleep(0.02)
        assert seen == [f"quick {i}" for i in range(20)] + ["waiting"]
        assert not handle.done()  # read while the run still waits in its last stage
    finally:
        handle.cancel()
        result = handle.result(timeout=20)
    assert result.status.value == "CANCEL"
    assert events_in(path)[-1]["event"] == "run-end"


def test_many_runs_share_one_flushing_thread(workflow_from, isolated_env) -> None:
    """A server runs hundreds of short runs: buffered events are flushed by one thread of the
    process, never a thread per run."""
    import threading

    stages = "\n".join(f"            - id: s{i}\n              echo: line {i}" for i in range(5))
    workflow = workflow_from(f"short:\n  type: Workflow\n  jobs:\n    only:\n      stages:\n{stages}\n")
    flushers: set[int] = set()
    for _ in range(30):
        result = workflow.execute()
        assert result.status.value == "SUCCESS"
        flushers |= {t.ident for t in threading.enumerate() if t.name == "runwright-trace-flush"}
    assert len(flushers) <= 1
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and len(events_in(Path(result.log_file))) < 14:
        time.sleep(0.02)
    assert [e["event"] for e in events_in(Path(result.log_file))][-1] == "run-end"


RUN_ID_WORKFLOW = """
named:
  type: Workflow
  jobs:
    j:
      stages:
        - id: s
          echo: hi
"""


@pytest.mark.parametrize("run_id", ["../escaped", "sub/dir", "a b", "x" * 129, "-leading", ".."])
def test_a_run_id_that_cannot_name_a_file_is_refused_before_anything_is_written(
    workflow_from, isolated_env, tmp_path, run_id: str
) -> None:
    workflow = workflow_from(RUN_ID_WORKFLOW)
    with pytest.raises(RunIdError, match=r"expected 1 to 128 letters, digits"):
        workflow.execute(run_id=run_id)
    with pytest.raises(RunIdError):
        workflow.start(run_id=run_id)  # at once, not in the run's thread
    assert list(tmp_path.rglob("*.jsonl")) == []  # no trace, in the logs folder or anywhere


def test_a_run_id_of_the_callers_own_names_the_trace_file(workflow_from, isolated_env) -> None:
    result = workflow_from(RUN_ID_WORKFLOW).execute(run_id="nightly-2024.01.01_a")
    assert result.status is Status.SUCCESS, result.errors
    assert [p.name for p in isolated_env.iterdir()] == ["nightly-2024.01.01_a.jsonl"]
    assert result.log_file == str(isolated_env / "nightly-2024.01.01_a.jsonl")


def test_logs_of_a_path_instead_of_a_run_id_is_a_usage_error(tmp_path) -> None:
    outside = tmp_path / "outside.jsonl"
    outside.write_text('{"event": "run-start", "message": "not a trace of this folder"}\n')
    done = run_cli("logs", "../outside", env={"RUNWRIGHT_LOG_PATH": str(tmp_path / "logs")})
    assert done.returncode == 2, done.stdout
    assert done.stderr.startswith("error: run id '../outside': expected"), done.stderr
    assert "not a trace" not in done.stdout
