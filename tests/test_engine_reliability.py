"""Timeouts, cancellation, retries, catch/finally: the failure paths a user relies on."""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator

import pytest
from runwright import Status

from tests.conftest import wait_for_file


def marker_pids(marker: str) -> list[int]:
    """Process ids whose command line contains ``marker`` exactly (pgrep takes a regex)."""
    found = subprocess.run(["pgrep", "-f", re.escape(marker)], capture_output=True, text=True)
    return [int(pid) for pid in found.stdout.split()]


def process_alive(marker: str) -> bool:
    return bool(marker_pids(marker))


def wait_until_alive(marker: str, timeout: float = 10.0) -> bool:
    """Bounded wait for the marked process to show up (it starts just after the stage's file)."""
    deadline = time.monotonic() + timeout
    while not process_alive(marker):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.fixture
def unique_sleep() -> Iterator[Callable[[int], str]]:
    """``sleep N.<random digits>``: a command line visible to pgrep and unique to this test.

    (A ``# comment`` is no marker: bash drops it, so it is never on a process's command line.)
    Leftovers are killed by their pid afterwards, so a failing test leaves no sleeper behind.
    """
    markers: list[str] = []

    def make(seconds: int) -> str:
        markers.append(f"sleep {seconds}.{random.randrange(10**8, 10**9)}")
        return markers[-1]

    yield make
    for marker in markers:
        for pid in marker_pids(marker):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_stage_timeout_interrupts_a_running_script(workflow_from, unique_sleep) -> None:
    marker = unique_sleep(30)
    wf = workflow_from(f"""
    slow:
      type: Workflow
      jobs:
        j:
          stages:
            - id: s
              timeout-minutes: 0.02
              bash: "{marker}"
            - id: after
              echo: not reached
    """)
    started = time.monotonic()
    result = wf.execute()
    elapsed = time.monotonic() - started
    assert elapsed < 10, "the 30 s sleep was not interrupted"
    record = result.context["jobs"]["j"]["stages"]["s"]
    assert record["status"] == "FAILED"
    assert record["errors"][0]["name"] == "Timeout"
    assert "after" not in result.context["jobs"]["j"]["stages"]
    assert not process_alive(marker)


def test_job_and_workflow_timeouts(workflow_from) -> None:
    wf = workflow_from("""
    timeouts:
      type: Workflow
      timeout-minutes: 0.05
      jobs:
        job-limited:
          timeout-minutes: 0.01
          stages:
            - {id: s, bash: "sleep 30"}
        python-limited:
          stages:
            - id: s
              timeout-minutes: 0.01
              run: |
                import time
                time.sleep(3)
        run-limited:
          stages:
            - {id: s, bash: "sleep 30"}
    """)
    started = time.monotonic()
    result = wf.execute()
    assert time.monotonic() - started < 15
    jobs = result.context["jobs"]
    job_limited = jobs["job-limited"]["stages"]["s"]["errors"][0]
    assert job_limited["name"] == "Timeout"  # each message names the limit that stopped it
    assert job_limited["message"].endswith("stage 's' ran past the timeout-minutes of job 'job-limited' (0.01, 0.6 s)")
    python_limited = jobs["python-limited"]["stages"]["s"]["errors"][0]
    assert python_limited["name"] == "Timeout"
    assert python_limited["message"] == "stage 's' ran past its timeout-minutes (0.01, 0.6 s)"
    assert jobs["run-limited"]["status"] in ("FAILED", "CANCEL")
    assert {
        "name": "Timeout",
        "message": "workflow 'timeouts' ran past its timeout-minutes (0.05, 3 s)",
    } in result.errors
    assert result.status is Status.FAILED


def test_workflow_timeout_alone_is_a_failure(workflow_from) -> None:
    result = workflow_from("""
    wf-timeout:
      type: Workflow
      timeout-minutes: 0.01
      jobs:
        j: {stages: [{id: s, bash: "sleep 30"}]}
    """).execute()
    assert result.status is Status.FAILED
    assert result.errors[0] == {
        "name": "Timeout",
        "message": "workflow 'wf-timeout' ran past its timeout-minutes (0.01, 0.6 s)",
    }
    assert result.context["jobs"]["j"]["status"] in ("CANCEL", "FAILED")


def test_cancel_mid_run(workflow_from, tmp_path, unique_sleep) -> None:
    marker = unique_sleep(30)
    wf = workflow_from(f"""
    cancellable:
      type: Workflow
      jobs:
        first:
          stages:
            - {{id: quick, echo: done}}
            - {{id: long, bash: "touch {tmp_path}/started; {marker}"}}
            - {{id: never, echo: x}}
        second:
          needs: [first]
          trigger-rule: all_done
          stages: [{{id: s, echo: x}}]
    """)
    handle = wf.start()
    wait_for_file(tmp_path / "started")
    assert (tmp_path / "started").exists()
    assert wait_until_alive(marker)
    handle.cancel()
    result = handle.result(timeout=15)
    assert result.status is Status.CANCEL
    stages = result.context["jobs"]["first"]["stages"]
    assert stages["quick"]["status"] == "SUCCESS"
    assert stages["long"]["status"] == "CANCEL"
    assert "never" not in stages
    assert result.context["jobs"]["second"]["status"] == "CANCEL"
    assert not process_alive(marker)


def test_retry_with_backoff_records_every_attempt(workflow_from, tmp_path) -> None:
    counter = tmp_path / "count"
    wf = workflow_from(f"""
    retrying:
      type: Workflow
      jobs:
        j:
          stages:
            - id: flaky
              retry: {{max-attempts: 4, delay-seconds: 0.01, backoff: 2, jitter: true}}
              bash: |
                n=$(( $(cat {counter} 2>/dev/null || echo 0) + 1 )); echo $n > {counter}
                [ $n -ge 3 ] || {{ echo "attempt $n failed" >&2; exit 1; }}
            - id: hopeless
              retry: {{max-attempts: 2, delay-seconds: 0}}
              raise: always
    """)
    result = wf.execute()
    flaky = result.context["jobs"]["j"]["stages"]["flaky"]
    assert flaky["status"] == "SUCCESS"
    assert flaky["attempts"] == 3
    assert [e["attempt"] for e in flaky["attempt_errors"]] == [1, 2]
    assert "attempt 2 failed" in flaky["attempt_errors"][1]["message"]
    hopeless = result.context["jobs"]["j"]["stages"]["hopeless"]
    assert hopeless["attempts"] == 2 and hopeless["status"] == "FAILED"


def test_retry_only_on_named_errors(workflow_from) -> None:
    result = workflow_from("""
    picky:
      type: Workflow
      jobs:
        j:
          stages:
            - id: not-retried
              retry: {max-attempts: 3, delay-seconds: 0, on: [Timeout]}
              raise: nope
              error: ValueProblem
              continue-on-error: true
            - id: retried
              retry: {max-attempts: 3, delay-seconds: 0, on: [ValueProblem]}
              raise: nope
              error: ValueProblem
    """).execute()
    stages = result.context["jobs"]["j"]["stages"]
    assert stages["not-retried"]["attempts"] == 1
    assert stages["retried"]["attempts"] == 3


def test_retry_delays_grow_with_backoff() -> None:
    from runwright.models.stage import RetryPolicy

    policy = RetryPolicy.model_validate(
        {"max-attempts": 5, "delay-seconds": 1, "backoff": 3, "max-delay-seconds": 5}
    )
    assert [policy.delay_before(n) for n in (2, 3, 4, 5)] == [1, 3, 5, 5]


def test_stage_catch_and_finally(workflow_from) -> None:
    result = workflow_from("""
    handled:
      type: Workflow
      jobs:
        j:
          stages:
            - id: load
              raise: "table locked"
              error: LockError
              catch:
                - id: note
                  run: 'seen = ${{ error.name }} + ": " + ${{ error.message }}'
              finally:
                - {id: cleanup, echo: "cleaning"}
            - id: next
              echo: continues
            - id: unhandled
              raise: "bad"
              catch:
                - {id: also-bad, raise: "catch failed too"}
    """).execute()
    stages = result.context["jobs"]["j"]["stages"]
    load = stages["load"]
    assert load["status"] == "SUCCESS" and load["outcome"] == "FAILED"
    assert load["caught"]["name"] == "LockError"
    assert load["catch"]["note"]["outputs"] == {"seen": "LockError: table locked"}
    assert load["finally"]["cleanup"]["status"] == "SUCCESS"
    assert stages["next"]["status"] == "SUCCESS"
    unhandled = stages["unhandled"]
    assert unhandled["status"] == "FAILED"
    assert [e["message"] for e in unhandled["errors"]] == ["bad", "catch failed too"]


def test_job_catch_and_finally(workflow_from) -> None:
    result = workflow_from("""
    job-handled:
      type: Workflow
      jobs:
        etl:
          stages: [{id: s, raise: "source down", error: SourceDown}]
          catch:
            - {id: alert, run: "alerted = ${{ error.name }}"}
          finally:
            - {id: release-lock, echo: released}
        report:
          needs: [etl]
          stages: [{id: s, echo: x}]
        plain-fail:
          stages: [{id: s, raise: oops}]
          finally:
            - {id: always, run: "saw = ${{ error.message }}"}
    """).execute()
    jobs = result.context["jobs"]
    assert jobs["etl"]["status"] == "SUCCESS" and jobs["etl"]["outcome"] == "FAILED"
    assert jobs["etl"]["catch"]["alert"]["outputs"] == {"alerted": "SourceDown"}
    assert jobs["etl"]["finally"]["release-lock"]["status"] == "SUCCESS"
    assert jobs["report"]["status"] == "SUCCESS"
    assert jobs["plain-fail"]["status"] == "FAILED"
    assert jobs["plain-fail"]["finally"]["always"]["outputs"] == {"saw": "oops"}


def test_cancel_kills_a_script_that_ignores_sigterm(workflow_from, tmp_path, unique_sleep) -> None:
    marker = unique_sleep(31)
    wf = workflow_from(f"""
    stubborn:
      type: Workflow
      jobs:
        j:
          stages:
            - id: s
              bash: |
                trap '' TERM
                touch {tmp_path}/started
                {marker}
    """)
    handle = wf.start()
    wait_for_file(tmp_path / "started")
    assert wait_until_alive(marker)
    handle.cancel()
    result = handle.result(timeout=20)
    assert result.status is Status.CANCEL
    assert not process_alive(marker)  # SIGTERM was ignored; SIGKILL after the grace period


def test_py_stage_vars_and_print(workflow_from) -> None:
    result = workflow_from("""
    pyvars:
      type: Workflow
      params: {base: {type: int, default: 40}}
      jobs:
        j:
          stages:
            - id: s
              vars: {offset: "${{ params.base }}", label: fixed}
              run: |
                import math
                total = offset + 2
                root = math.isqrt(total * total)
                print("total is", total)
    """).execute()
    outputs = result.context["jobs"]["j"]["stages"]["s"]["outputs"]
    assert outputs == {"total": 42, "root": 42}  # vars and modules are not outputs
    log = open(result.log_file, encoding="utf-8").read()
    assert '"event": "stdout"' in log and "total is 42" in log
