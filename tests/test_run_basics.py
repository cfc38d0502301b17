"""Running: context shape, stage ids, outputs across stages and jobs, the seed example."""

from __future__ import annotations

import json

from runwright import Result, Status

from tests.conftest import REPO, run_cli


def test_context_shape_and_outputs_flow(workflow_from) -> None:
    wf = workflow_from("""
    flow:
      type: Workflow
      params: {n: {type: int, default: 4}}
      jobs:
        first:
          stages:
            - name: Make Numbers
              run: |
                numbers = list(range(${{ params.n }}))
            - name: Use them
              id: total
              run: |
                total = sum(${{ stages.make-numbers.outputs.numbers }})
        second:
          needs: first
          stages:
            - id: echoed
              bash: echo "total=${{ jobs.first.stages.total.outputs.total }}" >> "$RUNWRIGHT_OUTPUT"
    """)
    result = wf.execute()
    assert isinstance(result, Result)
    assert result.status is Status.SUCCESS
    assert result.run_id and result.errors == []
    context = result.context
    assert context["params"] == {"n": 4}
    first = context["jobs"]["first"]
    assert first["status"] == "SUCCESS"
    assert first["stages"]["make-numbers"] == {
        "status": "SUCCESS",
        "outputs": {"numbers": [0, 1, 2, 3]},
    }
    assert first["stages"]["total"]["outputs"] == {"total": 6}
    assert context["jobs"]["second"]["stages"]["echoed"]["outputs"]["total"] == "6"
    json.dumps(result.to_dict())  # JSON-able


def test_jobs_follow_needs_and_stages_run_in_order(workflow_from, tmp_path) -> None:
    log = tmp_path / "order.txt"
    wf = workflow_from(f"""
    ordered:
      type: Workflow
      jobs:
        c:
          needs: [b]
          stages:
            - {{id: c1, bash: "echo c1 >> {log}"}}
        b:
          needs: [a]
          stages:
            - {{id: b1, bash: "echo b1 >> {log}"}}
            - {{id: b2, bash: "echo b2 >> {log}"}}
        a:
          stages:
            - {{id: a1, bash: "echo a1 >> {log}"}}
    """)
    assert wf.execute().status is Status.SUCCESS
    assert log.read_text().split() == ["a1", "b1", "b2", "c1"]


def test_failed_stage_records_error_and_stops_the_job(workflow_from) -> None:
    wf = workflow_from("""
    failing:
      type: Workflow
      jobs:
        j:
          stages:
            - id: ok
              echo: fine
            - id: broken
              bash: |
                echo partial
                echo "went wrong" >&2
                exit 3
            - id: never
              echo: not reached
    """)
    result = wf.execute()
    assert result.status is Status.FAILED
    stages = result.context["jobs"]["j"]["stages"]
    assert stages["ok"]["status"] == "SUCCESS"
    broken = stages["broken"]
    assert broken["status"] == "FAILED"
    assert broken["outputs"]["return_code"] == 3 and broken["outputs"]["stdout"] == "partial"
    assert broken["errors"][0]["name"] == "BashError"
    assert "exited with code 3: went wrong" in broken["errors"][0]["message"]
    assert "never" not in stages
    assert result.errors == broken["errors"]


def test_raise_stage_and_error_name(workflow_from) -> None:
    wf = workflow_from("""
    r:
      type: Workflow
      params: {what: {type: str, default: disk}}
      jobs:
        j:
          stages:
            - id: stop
              raise: "${{ params.what }} is full"
              error: DiskFull
    """)
    result = wf.execute()
    assert result.errors == [{"job": "j", "stage": "stop", "name": "DiskFull", "message": "disk is full"}]


def test_echo_sleep_and_trace_file(workflow_from) -> None:
    wf = workflow_from("""
    e:
      type: Workflow
      jobs:
        j:
          stages:
            - {name: Nap, echo: "zz ${{ 1 + 1 }}", sleep: 0.05}
    """)
    result = wf.execute()
    assert result.context["jobs"]["j"]["stages"]["nap"] == {"status": "SUCCESS", "outputs": {}}
    events = [json.loads(line) for line in open(result.log_file, encoding="utf-8")]
    assert [e["event"] for e in events] == [
        "run-start",
        "job-start",
        "stage-start",
        "echo",
        "stage-end",
        "job-end",
        "run-end",
    ]
    assert events[3]["message"] == "zz 2"
    assert {e["run_id"] for e in events} == {result.run_id}


def test_readme_hello_command_works() -> None:
    result = run_cli("run", "hello-world", "--conf", str(REPO / "conf"))
    assert result.returncode == 0, result.stderr
    assert "hello world hello world (5 letters)" in result.stdout


def test_readme_template_runs(conf, runtime) -> None:
    """The YAML under 'A template' in the README runs as shown."""
    from runwright import Workflow

    text = (REPO / "README.md").read_text()
    block = text.split("## A template", 1)[1].split("```yaml", 1)[1].split("```", 1)[0]
    folder = conf(block)
    result = Workflow.from_conf("hello-world", folder, runtime=runtime).execute({"name": "Ada"})
    assert result.status is Status.SUCCESS, result.errors
    stages = result.context["jobs"]["greet"]["stages"]
    assert stages["count"]["outputs"]["letters"].strip() == "3"
    summary = result.context["jobs"]["report"]["stages"]["summary"]["outputs"]
    assert summary == {"message": "hello Ada hello Ada"}
