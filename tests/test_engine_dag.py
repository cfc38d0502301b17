"""The job DAG: parallel independent jobs, diamonds, trigger rules, conditions, outputs."""

from __future__ import annotations

import itertools
import json

import pytest
from runwright import Status


def jobs_of(result):
    return result.context["jobs"]


def test_diamond_runs_each_job_once_in_dependency_order(workflow_from, tmp_path) -> None:
    log = tmp_path / "log"
    wf = workflow_from(f"""
    diamond:
      type: Workflow
      jobs:
        top: {{stages: [{{id: s, bash: "echo top >> {log}"}}]}}
        left: {{needs: [top], stages: [{{id: s, bash: "sleep 0.2; echo left >> {log}"}}]}}
        right: {{needs: [top], stages: [{{id: s, bash: "sleep 0.2; echo right >> {log}"}}]}}
        bottom: {{needs: [left, right], stages: [{{id: s, bash: "echo bottom >> {log}"}}]}}
    """)
    result = wf.execute()
    assert result.status is Status.SUCCESS
    lines = log.read_text().split()
    assert lines[0] == "top" and lines[-1] == "bottom" and sorted(lines[1:3]) == ["left", "right"]
    assert len(lines) == 4


def test_independent_jobs_run_at_the_same_time(workflow_from, tmp_path) -> None:
    # each job waits until both have started: only possible if they run in parallel
    wf = workflow_from(f"""
    together:
      type: Workflow
      jobs:
        a: {{stages: [{{id: s, bash: "touch {tmp_path}/a; for i in $(seq 50); do [ -e {tmp_path}/b ] && exit 0; sleep 0.1; done; exit 1"}}]}}
        b: {{stages: [{{id: s, bash: "touch {tmp_path}/b; for i in $(seq 50); do [ -e {tmp_path}/a ] && exit 0; sleep 0.1; done; exit 1"}}]}}
    """)
    assert wf.execute().status is Status.SUCCESS


def test_max_parallel_one_serialises_jobs(workflow_from, tmp_path) -> None:
    wf = workflow_from(f"""
    serial:
      type: Workflow
      max-parallel: 1
      jobs:
        a: {{stages: [{{id: s, bash: "touch {tmp_path}/a; sleep 0.3; [ ! -e {tmp_path}/b ]"}}]}}
        b: {{stages: [{{id: s, bash: "[ -e {tmp_path}/a ] && touch {tmp_path}/b"}}]}}
    """)
    result = wf.execute()
    # with one worker, a finished before b started: a never saw b's file, b saw a's
    assert {j: v["status"] for j, v in jobs_of(result).items()} == {"a": "SUCCESS", "b": "SUCCESS"}


def test_env_sets_default_parallelism(conf, monkeypatch) -> None:
    """RUNWRIGHT_MAX_JOB_PARALLEL=1: independent jobs run one at a time (read from the trace)."""
    from runwright import Workflow
    from runwright.config import Settings
    from runwright.plugins import get_plugin_manager
    from runwright.runtime import Runtime

    monkeypatch.setenv("RUNWRIGHT_MAX_JOB_PARALLEL", "1")
    settings = Settings.from_env()
    runtime = Runtime(get_plugin_manager(settings), settings)
    folder = conf("""
    independent:
      type: Workflow
      jobs:
        a: {stages: [{id: s, bash: "sleep 0.2"}]}
        b: {stages: [{id: s, bash: "sleep 0.2"}]}
        c: {stages: [{id: s, bash: "sleep 0.2"}]}
    """)
    result = Workflow.from_conf("independent", folder, runtime=runtime).execute()
    assert result.status is Status.SUCCESS
    events = [json.loads(line) for line in open(result.log_file, encoding="utf-8")]
    started = {e["job"]: e["time"] for e in events if e["event"] == "job-start"}
    ended = {e["job"]: e["time"] for e in events if e["event"] == "job-end"}
    spans = sorted((started[job], ended[job]) for job in "abc")
    for (_, end), (next_start, _) in itertools.pairwise(spans):
        assert next_start >= end, f"jobs overlapped: {spans}"


FAILING_UPSTREAM = """
rules:
  type: Workflow
  jobs:
    ok: {stages: [{id: s, echo: fine}]}
    bad: {stages: [{id: s, raise: boom}]}
    all-success: {needs: [ok, bad], stages: [{id: s, echo: x}]}
    all-failed: {needs: [bad], trigger-rule: all_failed, stages: [{id: s, echo: x}]}
    all-done: {needs: [ok, bad], trigger-rule: all_done, stages: [{id: s, echo: cleanup}]}
    one-success: {needs: [ok, bad], trigger-rule: one_success, stages: [{id: s, echo: x}]}
    one-failed: {needs: [ok, bad], trigger-rule: one_failed, stages: [{id: s, echo: x}]}
    none-failed: {needs: [ok, bad], trigger-rule: none_failed, stages: [{id: s, echo: x}]}
    none-skipped: {needs: [ok, bad], trigger-rule: none_skipped, stages: [{id: s, echo: x}]}
    after-skip: {needs: [all-success], stages: [{id: s, echo: x}]}
    after-skip-done: {needs: [all-success], trigger-rule: all_done, stages: [{id: s, echo: x}]}
    none-failed-skip: {needs: [all-success, ok], trigger-rule: none_failed, stages: [{id: s, echo: x}]}
    none-skipped-skip: {needs: [all-success], trigger-rule: none_skipped, stages: [{id: s, echo: x}]}
    all-failed-mixed: {needs: [ok, bad], trigger-rule: all_failed, stages: [{id: s, echo: x}]}
    one-success-none: {needs: [bad], trigger-rule: one_success, stages: [{id: s, echo: x}]}
"""


def test_trigger_rules(workflow_from) -> None:
    result = workflow_from(FAILING_UPSTREAM).execute()
    jobs = jobs_of(result)
    status = {name: job["status"] for name, job in jobs.items()}
    assert status == {
        "ok": "SUCCESS",
        "bad": "FAILED",
        "all-success": "SKIP",
        "all-failed": "SUCCESS",
        "all-done": "SUCCESS",
        "one-success": "SUCCESS",
        "one-failed": "SUCCESS",
        "none-failed": "SKIP",
        "none-skipped": "SUCCESS",
        "after-skip": "SKIP",
        "after-skip-done": "SUCCESS",
        "none-failed-skip": "SUCCESS",
        "none-skipped-skip": "SKIP",
        "all-failed-mixed": "SKIP",
        "one-success-none": "SKIP",
    }
    assert jobs["all-success"]["reason"] == "upstream failed: bad"
    assert jobs["after-skip"]["reason"] == "upstream skipped: all-success"
    # the workflow goes on, but its status tells the truth, and the real error is kept
    assert result.status is Status.FAILED
    assert result.errors == [{"job": "bad", "stage": "s", "name": "RaisedError", "message": "boom"}]


RULES = [
    "all_success", "all_failed", "all_done", "one_success", "one_failed", "none_failed",
    "none_skipped",
]
# Whether a job with one upstream job in the given state runs (SUCCESS) or is skipped (SKIP).
# A cancelled upstream counts as failed; a skipped one is neither failed nor succeeded.
AFTER_CANCEL = {
    "all_success": "SKIP", "all_failed": "SUCCESS", "all_done": "SUCCESS",
    "one_success": "SKIP", "one_failed": "SUCCESS", "none_failed": "SKIP",
    "none_skipped": "SUCCESS",
}
AFTER_SKIP = {
    "all_success": "SKIP", "all_failed": "SKIP", "all_done": "SUCCESS",
    "one_success": "SKIP", "one_failed": "SKIP", "none_failed": "SUCCESS",
    "none_skipped": "SKIP",
}


def test_trigger_rules_after_a_cancelled_or_skipped_upstream(workflow_from) -> None:
    """Every rule, after a job that cancelled itself and after a job skipped by its ``if:``."""
    dependents = "\n".join(
        f"    after-{up}-{rule}: {{needs: [{up}], trigger-rule: {rule}, stages: [{{id: s, echo: x}}]}}"
        for up in ("cancelled", "skipped")
        for rule in RULES
    )
    result = workflow_from(f"""
rules:
  type: Workflow
  jobs:
    cancelled:
      stages:
        - id: s
          run: |
            from runwright.errors import RunCancelled
            raise RunCancelled("the stage gave up")
    skipped: {{if: "${{{{ false }}}}", stages: [{{id: s, echo: x}}]}}
{dependents}
""").execute()
    status = {name: job["status"] for name, job in jobs_of(result).items()}
    assert status["cancelled"] == "CANCEL" and status["skipped"] == "SKIP"
    assert {rule: status[f"after-cancelled-{rule}"] for rule in RULES} == AFTER_CANCEL
    assert {rule: status[f"after-skipped-{rule}"] for rule in RULES} == AFTER_SKIP
    reasons = {name: job.get("reason") for name, job in jobs_of(result).items()}
    assert reasons["after-cancelled-all_success"] == "upstream failed: cancelled"
    assert reasons["after-skipped-all_success"] == "upstream skipped: skipped"


def test_a_job_whose_stages_were_all_skipped_succeeds_and_its_dependents_run(workflow_from) -> None:
    """An optional step never switches off the rest of a pipeline: only a job skipped by its own
    ``if:`` (or by its needs) passes SKIP on."""
    wf = workflow_from("""
    optional-step:
      type: Workflow
      params: {fail: {type: str, default: "no"}}
      jobs:
        first:
          stages:
            - {id: maybe, if: "${{ params.fail == 'yes' }}", raise: asked to fail}
        second:
          needs: [first]
          stages: [{id: s, echo: ran}]
        matrix:
          strategy: {matrix: {n: [1, 2]}}
          stages: [{id: maybe, if: "${{ params.fail == 'yes' }}", echo: x}]
        after-matrix:
          needs: [matrix]
          stages: [{id: s, echo: ran}]
        off:
          if: "${{ params.fail == 'yes' }}"
          stages: [{id: s, echo: x}]
        after-off:
          needs: [off]
          stages: [{id: s, echo: x}]
    """)
    result = wf.execute(params={"fail": "no"})
    jobs = jobs_of(result)
    assert {name: job["status"] for name, job in jobs.items()} == {
        "first": "SUCCESS",
        "second": "SUCCESS",
        "matrix": "SUCCESS",
        "after-matrix": "SUCCESS",
        "off": "SKIP",
        "after-off": "SKIP",
    }
    assert jobs["first"]["stages"]["maybe"]["status"] == "SKIP"  # the stage itself stays SKIP
    assert jobs["after-off"]["reason"] == "upstream skipped: off"
    assert result.status is Status.SUCCESS


def test_if_on_jobs_and_stages(workflow_from) -> None:
    wf = workflow_from("""
    conds:
      type: Workflow
      params: {env: {type: str, default: dev}}
      jobs:
        prod-only:
          if: "${{ params.env == 'prod' }}"
          stages: [{id: s, echo: x}]
        bare-expression:
          if: params.env == 'dev'
          stages:
            - {id: yes-stage, if: true, echo: x}
            - {id: no-stage, if: false, echo: x}
            - {id: text-false, if: "${{ 'false' }}", echo: x}
            - {id: templated, if: "${{ params.env | upper == 'DEV' }}", echo: x}
        downstream:
          needs: [prod-only]
          stages: [{id: s, echo: x}]
    """)
    result = wf.execute()
    jobs = jobs_of(result)
    assert jobs["prod-only"] == {
        "status": "SKIP",
        "stages": {},
        "reason": "condition 'if' is false",
    }
    stages = jobs["bare-expression"]["stages"]
    assert {k: v["status"] for k, v in stages.items()} == {
        "yes-stage": "SUCCESS",
        "no-stage": "SKIP",
        "text-false": "SKIP",
        "templated": "SUCCESS",
    }
    assert jobs["downstream"]["status"] == "SKIP"
    assert result.status is Status.SUCCESS
    assert wf.execute({"env": "prod"}).context["jobs"]["prod-only"]["status"] == "SUCCESS"


def test_job_outputs_read_downstream(workflow_from) -> None:
    wf = workflow_from("""
    outs:
      type: Workflow
      jobs:
        build:
          outputs:
            version: "${{ stages.v.outputs.version }}"
            label: "v${{ stages.v.outputs.version }}"
          stages:
            - {id: v, bash: 'echo "version=1.2.3" >> "$RUNWRIGHT_OUTPUT"'}
        deploy:
          needs: [build]
          stages:
            - id: d
              run: deployed = ${{ jobs.build.outputs.label }}
    """)
    result = wf.execute()
    assert jobs_of(result)["build"]["outputs"] == {"version": "1.2.3", "label": "v1.2.3"}
    assert jobs_of(result)["deploy"]["stages"]["d"]["outputs"] == {"deployed": "v1.2.3"}


def test_an_output_no_stage_binds_is_refused_before_the_run(workflow_from) -> None:
    from runwright.check import CheckFailed

    with pytest.raises(CheckFailed) as refused:
        workflow_from("""
        bad-expr:
          type: Workflow
          jobs:
            j: {stages: [{id: first, echo: hi}, {id: s, echo: "${{ stages.first.outputs.nope }}"}]}
        """).execute()
    assert "has no 'nope'" in str(refused.value) and "[unknown-output]" in str(refused.value)


def test_bad_expression_fails_the_stage_with_a_clear_error(workflow_from) -> None:
    result = workflow_from("""
    bad-expr:
      type: Workflow
      jobs:
        j: {stages: [{id: first, run: "data = {'a': 1}"}, {id: s, echo: "${{ stages.first.outputs.data.nope }}"}]}
    """).execute()  # the keys inside an output cannot be known before the run
    assert result.status is Status.FAILED
    assert result.errors[0]["name"] == "ExpressionError"
    assert "nope" in result.errors[0]["message"]


def test_continue_on_error_for_stages_and_jobs(workflow_from) -> None:
    result = workflow_from("""
    tolerant:
      type: Workflow
      jobs:
        flaky:
          continue-on-error: true
          stages: [{id: s, raise: nope}]
        next:
          needs: [flaky]
          stages:
            - {id: may-fail, raise: oops, continue-on-error: true}
            - {id: after, echo: still runs}
    """).execute()
    jobs = jobs_of(result)
    assert result.status is Status.SUCCESS
    assert jobs["flaky"]["status"] == "SUCCESS" and jobs["flaky"]["outcome"] == "FAILED"
    assert jobs["next"]["stages"]["may-fail"]["outcome"] == "FAILED"
    assert jobs["next"]["stages"]["after"]["status"] == "SUCCESS"
    assert [e["message"] for e in result.errors] == ["nope", "oops"]


def test_chain_runs_each_job_after_the_one_it_needs(workflow_from) -> None:
    """(Its speed per hop is measured in bench/engine.py, never asserted here.)"""
    chain = "\n".join(
        f"    j{i}: {{needs: [j{i - 1}], stages: [{{id: s, echo: x}}]}}"
        if i
        else "    j0: {stages: [{id: s, echo: x}]}"
        for i in range(30)
    )
    wf = workflow_from("chain:\n  type: Workflow\n  jobs:\n" + chain)
    result = wf.execute()
    assert result.status is Status.SUCCESS
    events = [json.loads(line) for line in open(result.log_file, encoding="utf-8")]
    order = [e["job"] for e in events if e["event"] in ("job-start", "job-end")]
    assert order == [j for i in range(30) for j in (f"j{i}", f"j{i}")]


@pytest.mark.parametrize("rule", ["all_success", "all_done"])
def test_unknown_trigger_rule_is_invalid(workflow_from, rule) -> None:
    from runwright.errors import TemplateError

    with pytest.raises(TemplateError, match="trigger-rule"):
        workflow_from(f"""
        wf:
          type: Workflow
          jobs:
            a: {{stages: [{{id: s, echo: x}}]}}
            b: {{needs: [a], trigger-rule: {rule}x, stages: [{{id: s, echo: x}}]}}
        """)
