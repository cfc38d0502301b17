"""Control-flow stages: parallel, foreach, case, until, trigger; and $RUNWRIGHT_OUTPUT."""

from __future__ import annotations

import pytest
from runwright import Status


def outputs(result, job="j", stage="s"):
    return result.context["jobs"][job]["stages"][stage]["outputs"]


def test_parallel_branches(workflow_from, tmp_path) -> None:
    result = workflow_from(f"""
    par:
      type: Workflow
      jobs:
        j:
          stages:
            - id: s
              max-workers: 2
              parallel:
                left:
                  - {{id: a, bash: "touch {tmp_path}/l; for i in $(seq 50); do [ -e {tmp_path}/r ] && break; sleep 0.1; done; echo left"}}
                  - {{id: b, run: "where = ${{{{ branch }}}} + '-' + ${{{{ stages.a.outputs.stdout }}}}"}}
                right:
                  - {{id: a, bash: "touch {tmp_path}/r; for i in $(seq 50); do [ -e {tmp_path}/l ] && break; sleep 0.1; done; echo right"}}
    """).execute()
    assert result.status is Status.SUCCESS, result.errors
    branches = outputs(result)["parallel"]
    assert branches["left"]["stages"]["b"]["outputs"] == {"where": "left-left"}
    assert branches["right"]["stages"]["a"]["outputs"]["stdout"] == "right"


def test_parallel_failure_keeps_other_branches(workflow_from) -> None:
    result = workflow_from("""
    par-fail:
      type: Workflow
      jobs:
        j:
          stages:
            - id: s
              parallel:
                bad: [{id: x, raise: broken, error: Broken}]
                good: [{id: y, echo: fine}]
    """).execute()
    record = result.context["jobs"]["j"]["stages"]["s"]
    assert record["status"] == "FAILED"
    assert record["errors"][0]["name"] == "Broken"
    assert record["outputs"]["parallel"]["good"]["status"] == "SUCCESS"


def test_foreach_items_index_and_outputs(workflow_from) -> None:
    result = workflow_from("""
    each:
      type: Workflow
      params: {tables: {type: array, default: [orders, users, items]}}
      jobs:
        j:
          stages:
            - id: s
              foreach: "${{ params.tables }}"
              concurrent: 2
              stages:
                - id: copy
                  run: |
                    target = ${{ item }} + "_copy"
                    position = ${{ loop.index }}
                    last = ${{ loop.last }}
    """).execute()
    assert result.status is Status.SUCCESS, result.errors
    per_item = outputs(result)["foreach"]
    assert [per_item[str(i)]["stages"]["copy"]["outputs"] for i in range(3)] == [
        {"target": "orders_copy", "position": 0, "last": False},
        {"target": "users_copy", "position": 1, "last": False},
        {"target": "items_copy", "position": 2, "last": True},
    ]
    assert outputs(result)["items"] == ["orders", "users", "items"]


def test_foreach_fail_fast_and_bad_input(workflow_from) -> None:
    result = workflow_from("""
    each-fail:
      type: Workflow
      jobs:
        j:
          stages:
            - id: s
              foreach: [1, 2, 3]
              fail-fast: true
              stages:
                - {id: check, if: "item == 1", raise: "item ${{ item }} is bad"}
        k:
          stages:
            - {id: s, foreach: "${{ 5 }}", stages: [{id: x, echo: y}]}
    """).execute()
    record = result.context["jobs"]["j"]["stages"]["s"]
    assert record["status"] == "FAILED" and "item 1 is bad" in record["errors"][0]["message"]
    assert [record["outputs"]["foreach"][k]["status"] for k in "012"] == [
        "FAILED",
        "CANCEL",
        "CANCEL",
    ]
    bad = result.context["jobs"]["k"]["stages"]["s"]["errors"][0]
    assert bad["name"] == "ForEachError" and "expects a list, got int" in bad["message"]


def test_case_match_default_and_no_match(workflow_from) -> None:
    wf = workflow_from("""
    route:
      type: Workflow
      params: {mode: str}
      jobs:
        j:
          stages:
            - id: s
              case: "${{ params.mode }}"
              match:
                - case: full
                  stages: [{id: run, echo: full load}]
                - case: delta
                  stages: [{id: run, run: "picked = 'delta'"}]
                - case: _
                  stages: [{id: run, run: "picked = 'default for ' + ${{ case }}"}]
        strict:
          stages:
            - id: s
              case: "${{ params.mode }}"
              match: [{case: full, stages: [{id: x, echo: y}]}]
        lenient:
          stages:
            - id: s
              case: "${{ params.mode }}"
              skip-not-match: true
              match: [{case: full, stages: [{id: x, echo: y}]}]
    """)
    delta = wf.execute({"mode": "delta"})
    assert outputs(delta)["stages"]["run"]["outputs"] == {"picked": "delta"}
    assert outputs(delta)["matched"] == "delta"
    other = wf.execute({"mode": "weird"})
    assert outputs(other)["stages"]["run"]["outputs"] == {"picked": "default for weird"}
    strict = other.context["jobs"]["strict"]["stages"]["s"]
    assert strict["errors"][0]["name"] == "CaseNotMatched"
    assert "no match for 'weird'" in strict["errors"][0]["message"]
    assert other.context["jobs"]["lenient"]["stages"]["s"]["status"] == "SKIP"


def test_case_matches_an_int_param_against_text_and_text_against_an_int(workflow_from) -> None:
    wf = workflow_from("""
    by-number:
      type: Workflow
      params: {n: int, label: {type: str, default: "2"}}
      jobs:
        j:
          stages:
            - id: s
              case: "${{ params.n }}"
              match:
                - case: "1"
                  stages: [{id: run, run: "picked = 'one'"}]
        k:
          stages:
            - id: s
              case: "${{ params.label }}"
              match:
                - case: 2
                  stages: [{id: run, run: "picked = 'two'"}]
    """)
    result = wf.execute({"n": 1})
    assert result.status.value == "SUCCESS", result.errors
    assert outputs(result)["stages"]["run"]["outputs"] == {"picked": "one"}
    assert outputs(result, job="k")["stages"]["run"]["outputs"] == {"picked": "two"}


def test_until_loops_until_true_and_respects_max_loop(workflow_from) -> None:
    result = workflow_from("""
    loop:
      type: Workflow
      jobs:
        j:
          stages:
            - id: s
              item: 1
              until: "stages.step.outputs.item >= 8"
              max-loop: 10
              stages:
                - id: step
                  run: item = ${{ item }} * 2
        never:
          stages:
            - id: s
              until: "false"
              max-loop: 3
              stages: [{id: x, echo: "pass ${{ loop.index }}"}]
    """).execute()
    loop = outputs(result)
    assert loop["loops"] == 3
    assert [loop["until"][str(i)]["item"] for i in range(3)] == [1, 2, 4]
    never = result.context["jobs"]["never"]["stages"]["s"]
    assert never["errors"][0]["name"] == "MaxLoopExceeded"
    assert never["outputs"]["loops"] == 3


def test_trigger_runs_another_workflow(conf, runtime) -> None:
    from runwright import Workflow

    folder = conf("""
    parent:
      type: Workflow
      jobs:
        j:
          stages:
            - id: s
              trigger: child
              params: {n: 21}
    child:
      type: Workflow
      params: {n: int}
      jobs:
        c:
          stages:
            - {id: double, run: "value = ${{ params.n }} * 2"}
    a: {type: Workflow, jobs: {j: {stages: [{id: s, trigger: b}]}}}
    b: {type: Workflow, jobs: {j: {stages: [{id: s, trigger: a}]}}}
    """)
    result = Workflow.from_conf("parent", folder, runtime=runtime).execute()
    assert result.status is Status.SUCCESS, result.errors
    nested = outputs(result)
    assert nested["status"] == "SUCCESS"
    assert nested["jobs"]["c"]["stages"]["double"]["outputs"] == {"value": 42}
    assert nested["run_id"] != result.run_id
    recursive = Workflow.from_conf("a", folder, runtime=runtime).execute()
    assert recursive.status is Status.FAILED
    assert "trigger would recurse: a -> b -> a" in str(recursive.errors)


def test_bash_output_file(workflow_from) -> None:
    result = workflow_from("""
    out:
      type: Workflow
      jobs:
        j:
          stages:
            - id: s
              bash: |
                echo "rows=42" >> "$RUNWRIGHT_OUTPUT"
                echo "path=/data/x=y" >> "$RUNWRIGHT_OUTPUT"
                echo noise
    """).execute()
    out = outputs(result)
    assert out["rows"] == "42" and out["path"] == "/data/x=y" and out["stdout"] == "noise"


@pytest.mark.parametrize("kind", ["parallel", "foreach", "case", "until", "trigger"])
def test_control_flow_kinds_are_registered_through_the_hook(runtime, kind) -> None:
    assert kind in runtime.stage_kinds
    assert runtime.stage_kinds[kind].__module__ == f"runwright.stages.{kind}"
