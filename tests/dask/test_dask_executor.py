"""Jobs and matrix strategies on a real Dask cluster: same results, trace and failures as local."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
from runwright import Status, Workflow
from runwright.engine.runner import run_workflow
from runwright.runtime import Runtime
from runwright.trace import read_trace

from tests.conftest import wait_for_file


def events_of(result) -> list[dict]:
    return list(read_trace(Path(result.log_file)))


def test_matrix_spreads_over_both_workers_and_outputs_flow_to_a_local_job(
    workflow_from, dask_address
) -> None:
    result = workflow_from("""
    spread:
      type: Workflow
      jobs:
        square:
          runs-on: {type: dask, address: "${DASK_ADDRESS}"}
          strategy: {matrix: {n: [1, 2, 3, 4, 5, 6, 7, 8]}, max-parallel: 8}
          stages:
            - id: calc
              run: |
                import time
                time.sleep(0.3)
                value = ${{ matrix.n }} * ${{ matrix.n }}
        total:
          runs-on: {type: dask, address: "${DASK_ADDRESS}"}
          stages:
            - id: calc
              run: answer = 40 + 2
          outputs: {answer: "${{ stages.calc.outputs.answer }}"}
        report:
          needs: [total]
          stages:
            - id: show
              run: got = ${{ jobs.total.outputs.answer }}
    """).execute()
    assert result.status is Status.SUCCESS, result.errors
    strategies = result.context["jobs"]["square"]["strategies"]
    assert {sid: s["stages"]["calc"]["outputs"]["value"] for sid, s in strategies.items()} == {
        str(n): n * n for n in range(1, 9)
    }
    assert result.context["jobs"]["total"]["outputs"] == {"answer": 42}
    assert result.context["jobs"]["report"]["stages"]["show"]["outputs"]["got"] == 42
    events = events_of(result)
    workers = {e["worker"] for e in events if e.get("job") == "square" and e.get("strategy")}
    assert len(workers) == 2 and all(w.startswith("tcp://127.0.0.1:") for w in workers)
    assert not any("worker" in e for e in events if e.get("job") == "report")
    assert {e["run_id"] for e in events} == {result.run_id}


def test_an_exception_on_a_worker_keeps_its_class_and_message(workflow_from, dask_address) -> None:
    result = workflow_from("""
    failing:
      type: Workflow
      runs-on: {type: dask, address: "${DASK_ADDRESS}"}
      jobs:
        j:
          stages:
            - id: divide
              run: x = 1 / 0
    """).execute()
    assert result.status is Status.FAILED
    error = result.context["jobs"]["j"]["stages"]["divide"]["errors"][0]
    assert error["name"] == "ZeroDivisionError"
    assert error["message"] == "division by zero"
    assert result.errors == result.context["jobs"]["j"]["errors"]


def test_secrets_stay_masked_in_worker_events(workflow_from, dask_address, monkeypatch) -> None:
    """Masked in the run's trace and result, and already on the worker: the driver masks every
    replayed event again, so what the worker sends is looked at as it arrives, untouched."""
    from runwright_dask.executor import DaskExecutor

    secret = "hunter2-very-secret"
    monkeypatch.setenv("DB_PASSWORD", secret)  # the workers' own environment never had it
    arrived: list = []
    run_remote = DaskExecutor._run_remote

    def keep_what_arrives(self, task, scope):
        result = run_remote(self, task, scope)
        arrived.append(result)
        return result

    monkeypatch.setattr(DaskExecutor, "_run_remote", keep_what_arrives)
    result = workflow_from("""
    masked:
      type: Workflow
      runs-on: {type: dask, address: "${DASK_ADDRESS}"}
      jobs:
        j:
          stages:
            - id: say
              echo: "password is ${DB_PASSWORD}"
            - id: fail
              run: raise ValueError("bad password ${DB_PASSWORD}")
    """).execute()
    assert result.status is Status.FAILED
    text = Path(result.log_file).read_text()
    assert secret not in text
    assert "password is ***" in text
    assert any("worker" in e for e in events_of(result))
    assert secret not in json.dumps(result.to_dict())
    [sent] = arrived
    assert sent.worker.startswith("tcp://127.0.0.1:") and sent.events
    raw = json.dumps([sent.events, sent.errors])
    assert "password is ***" in raw and "bad password ***" in raw
    assert secret not in raw


def test_cancel_reaches_the_task_on_the_cluster(workflow_from, dask_address, tmp_path) -> None:
    marker = tmp_path / "started"
    wf = workflow_from(f"""
    cancellable:
      type: Workflow
      jobs:
        long:
          runs-on: {{type: dask, address: "${{DASK_ADDRESS}}"}}
          stages:
            - {{id: wait, bash: "touch {marker}; sleep 60"}}
            - {{id: never, echo: x}}
    """)
    handle = wf.start()
    assert wait_for_file(marker, timeout=60)
    handle.cancel("stop it")
    result = handle.result(timeout=60)
    assert result.status is Status.CANCEL
    stages = result.context["jobs"]["long"]["stages"]
    assert stages["wait"]["status"] == "CANCEL"
    assert "never" not in stages


def test_a_200_strategy_matrix_runs_on_the_cluster(workflow_from, dask_address) -> None:
    result = workflow_from("""
    wide:
      type: Workflow
      jobs:
        many:
          runs-on: {type: dask, address: "${DASK_ADDRESS}"}
          strategy: {matrix: {a: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], b: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]}, max-parallel: 16}
          stages:
            - id: mul
              run: product = ${{ matrix.a }} * ${{ matrix.b }}
    """).execute()
    assert result.status is Status.SUCCESS, result.errors
    strategies = result.context["jobs"]["many"]["strategies"]
    assert len(strategies) == 200
    assert sorted(s["stages"]["mul"]["outputs"]["product"] for s in strategies.values()) == sorted(
        a * b for a in range(10) for b in range(20)
    )


def test_runwright_executor_sends_jobs_without_runs_on_to_dask(conf, dask_address, monkeypatch) -> None:
    monkeypatch.setenv("RUNWRIGHT_EXECUTOR", f"dask:{dask_address}")
    folder = conf("""
    deployment:
      type: Workflow
      jobs:
        j: {stages: [{id: s, echo: hi}]}
        here: {runs-on: local, stages: [{id: s, echo: hi}]}
    """)
    result = run_workflow(Workflow.from_conf("deployment", folder, runtime=Runtime()))
    events = events_of(result)
    assert result.status is Status.SUCCESS
    assert any(e.get("worker", "").startswith("tcp://") for e in events if e.get("job") == "j")
    assert not any("worker" in e for e in events if e.get("job") == "here")


@pytest.mark.parametrize("matrix", [False, True])
def test_a_timeout_reaches_the_task_on_the_cluster(workflow_from, dask_address, matrix: bool) -> None:
    strategy = "strategy: {matrix: {n: [1]}}" if matrix else ""
    result = workflow_from(f"""
    slow:
      type: Workflow
      jobs:
        j:
          runs-on: {{type: dask, address: "${{DASK_ADDRESS}}"}}
          timeout-minutes: 0.03
          {strategy}
          stages:
            - {{id: wait, bash: "sleep 60"}}
    """).execute()
    assert result.status is Status.FAILED
    job = result.context["jobs"]["j"]
    stage = (job["strategies"]["1"] if matrix else job)["stages"]["wait"]
    assert stage["status"] in ("FAILED", "CANCEL")
    assert stage["errors"][0]["name"] == "Timeout"


def test_call_functions_resolve_on_the_worker_through_the_registry(workflow_from, dask_address) -> None:
    result = workflow_from("""
    calls:
      type: Workflow
      jobs:
        j:
          runs-on: {type: dask, address: "${DASK_ADDRESS}"}
          stages:
            - {id: hi, uses: tasks/greet@local, with: {name: dask, times: 2}}
            - {id: total, uses: tasks/sum-numbers@local, with: {numbers: [1, 2, 3.5]}}
    """).execute()
    assert result.status is Status.SUCCESS, result.errors
    stages = result.context["jobs"]["j"]["stages"]
    assert stages["hi"]["outputs"] == {"greeting": "hello dask hello dask"}
    assert stages["total"]["outputs"] == {"total": 6.5}
    assert all(e["worker"].startswith("tcp://") for e in events_of(result) if e.get("job") == "j")


def test_fail_fast_cancels_the_other_strategies_on_the_cluster(workflow_from, dask_address, tmp_path) -> None:
    result = workflow_from(f"""
    fast:
      type: Workflow
      jobs:
        j:
          runs-on: {{type: dask, address: "${{DASK_ADDRESS}}"}}
          strategy: {{matrix: {{n: [1, 2]}}, max-parallel: 2, fail-fast: true}}
          stages:
            - id: work
              bash: |
                if [ "${{{{ matrix.n }}}}" = 1 ]; then
                  while [ ! -e {tmp_path}/slow-started ]; do sleep 0.05; done
                  exit 3
                fi
                touch {tmp_path}/slow-started
                sleep 60
    """).execute()
    assert result.status is Status.FAILED
    strategies = result.context["jobs"]["j"]["strategies"]
    assert strategies["1"]["status"] == "FAILED"
    assert strategies["2"]["status"] == "CANCEL"
    assert strategies["2"]["stages"]["work"]["status"] == "CANCEL"


@pytest.mark.parametrize("retries", [0, 1])
def test_a_worker_killed_mid_job_gives_worker_lost(workflow_from, dask_address, tmp_path, retries) -> None:
    """Runs last in this file: it kills a real worker process (the nanny restarts it)."""
    pid_file = tmp_path / "pid"
    wf = workflow_from(f"""
    killed:
      type: Workflow
      jobs:
        victim:
          runs-on: {{type: dask, address: "${{DASK_ADDRESS}}", retries: {retries}}}
          stages:
            - id: work
              run: |
                import os, pathlib, time
                first = not pathlib.Path("{pid_file}").exists()
                pathlib.Path("{pid_file}").write_text(str(os.getpid()))
                if first:
                    time.sleep(60)
    """)
    handle = wf.start()
    assert wait_for_file(pid_file, timeout=60)
    os.kill(int(pid_file.read_text()), signal.SIGKILL)
    result = handle.result(timeout=120)
    record = result.context["jobs"]["victim"]
    if retries == 0:
        assert result.status is Status.FAILED
        assert record["reason"] == "worker-lost"
        assert record["errors"][0]["name"] == "WorkerLost"
    else:
        assert result.status is Status.SUCCESS, result.errors
        assert record["attempts"] == 2
        assert record["attempt_errors"][0]["name"] == "WorkerLost"


def test_no_address_starts_a_temporary_cluster_for_the_run(workflow_from) -> None:
    result = workflow_from("""
    laptop:
      type: Workflow
      jobs:
        j:
          runs-on: dask
          stages:
            - id: where
              run: |
                import os
                pid = os.getpid()
    """).execute()
    assert result.status is Status.SUCCESS, result.errors
    pid = result.context["jobs"]["j"]["stages"]["where"]["outputs"]["pid"]
    assert pid != os.getpid()
    events = [e for e in events_of(result) if e.get("job") == "j"]
    assert events and all(e["worker"].startswith("tcp://127.0.0.1:") for e in events)
    gone = False  # the cluster closes with the run: its worker process ends
    for _ in range(200):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            gone = True
            break
        time.sleep(0.05)
    assert gone


LISTENING = """
laptop:
  type: Workflow
  jobs:
    j:
      runs-on: dask
      stages:
        - id: listening
          run: |
            import psutil
            driver = psutil.Process(DRIVER_PID)
            processes = [driver, *driver.children(recursive=True)]
            addresses = sorted(
                f"{c.laddr.ip}:{c.laddr.port}"
                for process in processes
                for c in process.net_connections("inet")
                if c.status == psutil.CONN_LISTEN
            )
            del driver, processes  # not picklable: only the addresses come back
"""


def test_a_temporary_cluster_listens_on_127_0_0_1_only(workflow_from) -> None:
    """Its scheduler, dashboard, nanny and worker: nothing reachable from another machine."""
    result = workflow_from(LISTENING.replace("DRIVER_PID", str(os.getpid()))).execute()
    assert result.status is Status.SUCCESS, result.errors
    addresses = result.context["jobs"]["j"]["stages"]["listening"]["outputs"]["addresses"]
    assert len(addresses) >= 3, addresses  # the scheduler, its dashboard, the nanny, the worker
    assert [a for a in addresses if not a.startswith("127.0.0.1:")] == []


@pytest.mark.parametrize("matrix", [False, True])
def test_a_follower_on_the_cluster_reads_its_release_event(workflow_from, dask_address, matrix: bool) -> None:
    """``${{ release.upstream.* }}`` of an ``on: release`` run is the same on a worker as locally."""
    strategy = "strategy: {matrix: {n: [1, 2]}}" if matrix else ""
    workflow = workflow_from(
        f"""
    follower:
      type: Workflow
      on: {{release: [upstream]}}
      jobs:
        j:
          runs-on: {{type: dask, address: "${{DASK_ADDRESS}}"}}
          {strategy}
          stages:
            - id: s
              run: got = ${{{{ release.upstream.run_id }}}}
    upstream:
      type: Workflow
      jobs: {{j: {{stages: [{{id: s, echo: hi}}]}}}}
    """,
        name="follower",
    )
    event = {
        "logical_date": "2024-01-01T00:00:00+00:00",
        "upstream": {
            "workflow": "upstream",
            "run_id": "run-123",
            "status": "SUCCESS",
            "logical_date": "2024-01-01T00:00:00+00:00",
        },
    }
    result = run_workflow(workflow, {}, release_event=event)
    assert result.status is Status.SUCCESS, result.errors
    job = result.context["jobs"]["j"]
    records = [s["stages"]["s"] for s in job["strategies"].values()] if matrix else [job["stages"]["s"]]
    assert [r["outputs"]["got"] for r in records] == ["run-123"] * len(records)


def test_a_matrix_from_data_is_one_task_per_strategy_on_the_cluster(workflow_from, dask_address) -> None:
    result = workflow_from("""
    fan:
      type: Workflow
      params: {regions: {type: array, default: [eu, us, ap]}}
      jobs:
        plan:
          stages: [{id: p, run: "parts = [1, 2]"}]
          outputs: {parts: "${{ stages.p.outputs.parts }}"}
        work:
          needs: [plan]
          runs-on: {type: dask, address: "${DASK_ADDRESS}"}
          strategy:
            matrix: {region: "${{ params.regions }}", part: "${{ jobs.plan.outputs.parts }}"}
            max-parallel: 6
          stages:
            - id: s
              run: label = "${{ matrix.region }}-${{ matrix.part }}"
    """).execute()
    assert result.status is Status.SUCCESS, result.errors
    strategies = result.context["jobs"]["work"]["strategies"]
    assert sorted(s["stages"]["s"]["outputs"]["label"] for s in strategies.values()) == [
        "ap-1", "ap-2", "eu-1", "eu-2", "us-1", "us-2",
    ]  # fmt: skip
    events = events_of(result)
    on_workers = {e["strategy"] for e in events if e.get("job") == "work" and e.get("worker")}
    assert len(on_workers) == 6  # each strategy ran as its own task on a worker


def test_a_pool_holds_for_jobs_on_dask_workers(
    conf, tmp_path, dask_address, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The driver holds a Dask job's pool while a worker runs it: three runs, one at a time."""
    import threading
    from datetime import UTC, datetime, timedelta

    from runwright import Workflow
    from runwright.audit import make_audit_backend

    monkeypatch.setenv("RUNWRIGHT_AUDIT_URL", f"sqlite:///{tmp_path / 'audit.db'}")
    log = tmp_path / "ran.log"
    folder = conf(f"""
    one-at-a-time:
      type: Pool
      slots: 1
    load:
      type: Workflow
      jobs:
        whole:
          runs-on: {{type: dask, address: "${{DASK_ADDRESS}}"}}
          pool: one-at-a-time
          stages:
            - id: s
              bash: 'echo "start $(date +%s.%N)" >> {log}; sleep 0.5; echo "end $(date +%s.%N)" >> {log}'
    """)
    workflow = Workflow.from_conf("load", folder)
    audit = make_audit_backend()
    first = datetime(2026, 3, 1, tzinfo=UTC)
    outcomes: list[object] = []
    threads = [
        threading.Thread(
            target=lambda i=i: outcomes.append(workflow.release(first + timedelta(minutes=i), audit=audit))
        )
        for i in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert [o.status for o in outcomes] == ["SUCCESS"] * 3  # type: ignore[attr-defined]
    times = [line.split() for line in log.read_text().splitlines()]
    spans = list(
        zip(
            [float(t) for k, t in times if k == "start"],
            [float(t) for k, t in times if k == "end"],
            strict=True,
        )
    )
    ordered = sorted(spans)
    assert all(later[0] >= earlier[1] for earlier, later in zip(ordered, ordered[1:], strict=False)), ordered
