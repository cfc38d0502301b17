"""A matrix is capped (RUNWRIGHT_MAX_STRATEGIES, default 10,000) without building the product,
and the error says so at validate and at run."""

from __future__ import annotations

import pytest
from runwright.errors import TemplateError

from tests.conftest import run_cli

HUGE = """
huge:
  type: Workflow
  jobs:
    fan:
      strategy:
        matrix:
{keys}
      stages: [{{id: s, echo: "${{{{ matrix.k0 }}}}"}}]
"""


def matrix_workflow(keys: int, values: int) -> str:
    lines = "\n".join(f"          k{i}: {list(range(values))}" for i in range(keys))
    return HUGE.format(keys=lines)


def test_ten_million_strategies_are_refused_at_validate_and_at_run(conf) -> None:
    folder = conf(matrix_workflow(keys=7, values=10))
    for args in (["validate", str(folder)], ["run", "huge", "--conf", str(folder)]):
        result = run_cli(*args, timeout=60)
        shown = result.stdout + result.stderr  # validate lists findings on stdout, run errors on stderr
        assert result.returncode == 2, shown
        assert "jobs.fan.strategy" in shown
        assert "up to 10000000 combinations, more than 10000 (RUNWRIGHT_MAX_STRATEGIES)" in shown
        assert "Traceback" not in shown


def test_the_strategy_limit_is_configurable(workflow_from, monkeypatch: pytest.MonkeyPatch) -> None:
    text = matrix_workflow(keys=2, values=2)
    assert workflow_from(text).execute({}).status.value == "SUCCESS"
    monkeypatch.setenv("RUNWRIGHT_MAX_STRATEGIES", "3")
    with pytest.raises(TemplateError, match=r"up to 4 combinations, more than 3"):
        workflow_from(text)
    with_include = text.replace(
        "      stages:", "        include: [{k0: 9}, {k0: 8}]\n      stages:"
    ).replace("k1: [0, 1]", "k1: [0]")
    with pytest.raises(TemplateError, match=r"up to 4 combinations, more than 3"):
        workflow_from(with_include)


def test_a_matrix_of_exactly_the_limit_is_accepted_and_one_more_is_refused(
    workflow_from, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNWRIGHT_MAX_STRATEGIES", "4")
    text = matrix_workflow(keys=2, values=2)
    result = workflow_from(text).execute({})
    assert result.status.value == "SUCCESS"
    assert len(result.context["jobs"]["fan"]["strategies"]) == 4
    one_more = text.replace("      stages:", "        include: [{k0: 9}]\n      stages:")
    with pytest.raises(TemplateError, match=r"up to 5 combinations, more than 4"):
        workflow_from(one_more)


def test_a_foreach_from_data_is_capped_like_a_matrix(workflow_from, monkeypatch) -> None:
    monkeypatch.setenv("RUNWRIGHT_MAX_STRATEGIES", "5")
    workflow = workflow_from("""
    fan:
      type: Workflow
      params: {items: {type: array}}
      jobs:
        j:
          stages:
            - id: each
              foreach: ${{ params.items }}
              stages: [{id: say, echo: "${{ item }}"}]
    """)
    assert workflow.execute({"items": [1, 2, 3, 4, 5]}).status.value == "SUCCESS"  # exactly the cap
    over = workflow.execute({"items": [1, 2, 3, 4, 5, 6]})
    assert over.status.value == "FAILED"
    [error] = over.errors
    assert error["name"] == "ForEachError"
    assert error["message"] == "foreach has 6 items, more than 5 (RUNWRIGHT_MAX_STRATEGIES)"


def test_a_literal_foreach_over_the_cap_is_refused_when_loading(conf, monkeypatch) -> None:
    from tests.conftest import run_cli

    monkeypatch.setenv("RUNWRIGHT_MAX_STRATEGIES", "3")
    folder = conf("""
    fan:
      type: Workflow
      jobs:
        j:
          stages:
            - {id: each, foreach: [1, 2, 3, 4], stages: [{id: say, echo: "${{ item }}"}]}
    """)
    done = run_cli("validate", str(folder))
    assert done.returncode == 2
    assert "4 items, more than 3 (RUNWRIGHT_MAX_STRATEGIES)" in done.stdout
