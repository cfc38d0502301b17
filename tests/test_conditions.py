"""Conditions (`if:`, `until:`): `${{ e }}` inside condition text is `(e)` in one expression."""

from __future__ import annotations

import pytest
from runwright import Status
from runwright.errors import ExpressionError
from runwright.runtime import Runtime


def stage(result, stage_id: str, job: str = "j") -> dict:
    return result.context["jobs"][job]["stages"][stage_id]


def test_if_mixing_expression_and_text_compares(workflow_from) -> None:
    wf = workflow_from("""
    cond:
      type: Workflow
      params: {n: int, who: str}
      jobs:
        j:
          stages:
            - {id: mixed, if: "${{ params.n }} == 2", echo: two}
            - {id: bare, if: "params.n == 2", echo: two}
            - {id: text, if: "${{ params.who }} == 'Ada'", echo: ada}
            - {id: several, if: "${{ params.n }} > 1 and ${{ params.who | length }} == 3", echo: both}
        gated:
          if: "${{ params.n }} == 2"
          stages: [{id: s, echo: ran}]
    """)
    one = wf.execute({"n": 1, "who": "Bob"})
    assert not one.errors
    assert [stage(one, s)["status"] for s in ("mixed", "bare", "text", "several")] == ["SKIP"] * 4
    assert one.context["jobs"]["gated"]["status"] == "SKIP"
    two = wf.execute({"n": 2, "who": "Ada"})
    assert [stage(two, s)["status"] for s in ("mixed", "bare", "text", "several")] == ["SUCCESS"] * 4
    assert two.context["jobs"]["gated"]["status"] == "SUCCESS"


def test_until_mixing_expression_and_text_loops_until_true(workflow_from) -> None:
    result = workflow_from("""
    loop:
      type: Workflow
      jobs:
        j:
          stages:
            - id: s
              item: 1
              until: "${{ item }} > 3"
              stages:
                - {id: step, run: "item = ${{ item }} + 1"}
    """).execute()
    assert result.status is Status.SUCCESS, result.errors
    assert stage(result, "s")["outputs"]["loops"] == 3  # items 2, 3, 4


def test_expression_inside_a_quoted_string_is_its_text(workflow_from) -> None:
    wf = workflow_from("""
    cond:
      type: Workflow
      params: {who: str, n: int}
      jobs:
        j:
          stages:
            - {id: single, if: "'${{ params.who }}' == 'Ada'", echo: ada}
            - {id: double, if: '"Hi ${{ params.who }}!" == "Hi Ada!"', echo: ada}
            - {id: number, if: "'${{ params.n }}' == '2' and ${{ params.n }} * 'x' == 'xx'", echo: two}
        loop:
          stages:
            - id: s
              item: 0
              until: "'${{ item }}' == '3'"
              stages: [{id: step, run: "item = ${{ item }} + 1"}]
    """)
    ada = wf.execute({"who": "Ada", "n": 2})
    assert ada.status is Status.SUCCESS, ada.errors
    assert [stage(ada, s)["status"] for s in ("single", "double", "number")] == ["SUCCESS"] * 3
    assert stage(ada, "s", job="loop")["outputs"]["loops"] == 3
    bob = wf.execute({"who": "Bob", "n": 3})
    assert [stage(bob, s)["status"] for s in ("single", "double", "number")] == ["SKIP"] * 3
    for hostile in ("x' or 'a' == 'a", 'x" or "a" == "a', "Ada' == 'Ada' or '"):
        result = wf.execute({"who": hostile, "n": 1})
        assert stage(result, "single")["status"] == "SKIP", hostile
        assert stage(result, "double")["status"] == "SKIP", hostile


def test_condition_values_stay_data(workflow_from) -> None:
    wf = workflow_from("""
    cond:
      type: Workflow
      params: {who: str}
      jobs:
        j:
          stages:
            - {id: s, if: "${{ params.who }} == 'Ada'", echo: ada}
    """)
    for hostile in ("x' or 'a' == 'a", "1 or True", "Ada' == 'Ada"):
        result = wf.execute({"who": hostile})
        assert stage(result, "s")["status"] == "SKIP", hostile


def test_bad_condition_is_refused_before_the_run_naming_it(workflow_from) -> None:
    """A condition that does not compile stops the run before anything runs (the checker)."""
    from runwright.check import CheckFailed

    workflow = workflow_from("""
    cond:
      type: Workflow
      params: {n: int}
      jobs:
        j:
          stages:
            - {id: s, if: "${{ params.n }} ==", echo: never}
    """)
    with pytest.raises(CheckFailed) as caught:
        workflow.execute({"n": 1})
    assert "jobs.j.stages[0].if" in str(caught.value) and "[expression-syntax]" in str(caught.value)


def test_bad_condition_fails_the_stage_when_unchecked(runtime: Runtime) -> None:
    """At run time (a condition reached without the checker) the error names the expression."""
    with pytest.raises(ExpressionError, match="params.n"):
        runtime.expressions.evaluate_condition("${{ params.n }} ==", {"params": {"n": 1}})


def test_engine_exposes_condition_compiler(runtime: Runtime) -> None:
    engine = runtime.expressions
    context = {"a": 2, "flag": "false"}
    assert engine.evaluate_condition("${{ a }} == 2", context) is True
    assert engine.evaluate_condition("a == 2", context) is True
    assert engine.evaluate_condition("${{ a }} == 3", context) is False
    assert engine.evaluate_condition("${{ flag }}", context) is False  # falsy text stays false
    assert engine.evaluate_condition(True, context) is True
    assert engine.compile_condition("${{ a }} == 2").text == "(a) == 2"
    with pytest.raises(ExpressionError, match="never closed"):
        engine.compile_condition("${{ a == 2")
