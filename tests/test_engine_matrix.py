"""Matrix strategies: product, include/exclude, max-parallel, fail-fast scoped to the job."""

from __future__ import annotations

import pytest
from runwright import Status
from runwright.models.job import Strategy


def test_include_and_exclude_follow_github_semantics() -> None:
    strategy = Strategy.model_validate(
        {
            "matrix": {"os": ["linux", "mac"], "py": [3.11, 3.12]},
            "exclude": [{"os": "mac", "py": 3.11}],
            "include": [{"os": "linux", "experimental": True}, {"os": "windows", "py": 3.12}],
        }
    )
    assert strategy.combinations() == [
        {"os": "linux", "py": 3.11, "experimental": True},
        {"os": "linux", "py": 3.12, "experimental": True},
        {"os": "mac", "py": 3.12},
        {"os": "windows", "py": 3.12},
    ]


def test_matrix_results_per_strategy(workflow_from) -> None:
    result = workflow_from("""
    m:
      type: Workflow
      jobs:
        build:
          strategy:
            matrix: {os: [linux, mac], py: ["3.11", "3.12"]}
            exclude: [{os: mac, py: "3.11"}]
            include: [{os: bsd, py: "3.10"}]
          stages:
            - id: show
              run: label = ${{ matrix.os }} + "-" + ${{ matrix.py }}
    """).execute()
    assert result.status is Status.SUCCESS
    strategies = result.context["jobs"]["build"]["strategies"]
    assert {sid: s["stages"]["show"]["outputs"]["label"] for sid, s in strategies.items()} == {
        "linux-3-11": "linux-3.11",
        "linux-3-12": "linux-3.12",
        "mac-3-12": "mac-3.12",
        "bsd-3-10": "bsd-3.10",
    }
    assert strategies["bsd-3-10"]["matrix"] == {"os": "bsd", "py": "3.10"}
    assert all(s["status"] == "SUCCESS" for s in strategies.values())


FAIL_FAST = """
ff:
  type: Workflow
  jobs:
    matrixed:
      strategy:
        max-parallel: {parallel}
        fail-fast: {fail_fast}
        matrix: {{n: [1, 2, 3, 4]}}
      stages:
        - id: work
          bash: |
            if [ "${{{{ matrix.n }}}}" = "1" ]; then exit 1; fi
            sleep 0.5
    unrelated:
      stages:
        - {{id: slow, bash: "sleep 1.2; echo done"}}
"""


@pytest.mark.parametrize("parallel", [1, 2])
def test_fail_fast_cancels_only_this_jobs_strategies(workflow_from, parallel: int) -> None:
    result = workflow_from(FAIL_FAST.format(parallel=parallel, fail_fast="true")).execute()
    jobs = result.context["jobs"]
    strategies = jobs["matrixed"]["strategies"]
    assert strategies["1"]["status"] == "FAILED"
    states = [strategies[s]["status"] for s in ("2", "3", "4")]
    if parallel == 1:
        assert states == ["CANCEL", "CANCEL", "CANCEL"]
    else:
        # strategy 2 was already running beside 1: it is cancelled mid-way or finishes,
        # and 3 and 4 never start
        assert states[0] in ("CANCEL", "SUCCESS") and states[1:] == ["CANCEL", "CANCEL"]
    assert jobs["matrixed"]["status"] == "FAILED"
    # fail-fast is scoped: the unrelated job ran to the end
    assert jobs["unrelated"]["status"] == "SUCCESS"
    assert jobs["unrelated"]["stages"]["slow"]["outputs"]["stdout"] == "done"
    assert result.status is Status.FAILED


def test_without_fail_fast_every_strategy_runs(workflow_from) -> None:
    result = workflow_from(FAIL_FAST.format(parallel=2, fail_fast="false")).execute()
    strategies = result.context["jobs"]["matrixed"]["strategies"]
    assert [strategies[s]["status"] for s in ("1", "2", "3", "4")] == [
        "FAILED",
        "SUCCESS",
        "SUCCESS",
        "SUCCESS",
    ]


def test_matrix_values_in_if(workflow_from) -> None:
    result = workflow_from("""
    mif:
      type: Workflow
      jobs:
        j:
          strategy: {matrix: {n: [1, 2]}}
          stages:
            - {id: only-two, if: "matrix.n == 2", echo: two}
    """).execute()
    strategies = result.context["jobs"]["j"]["strategies"]
    assert strategies["1"]["stages"]["only-two"]["status"] == "SKIP"
    assert strategies["2"]["stages"]["only-two"]["status"] == "SUCCESS"


def test_include_and_exclude_inside_matrix_mean_what_they_mean_in_github_actions(workflow_from) -> None:
    # GitHub Actions writes them inside `matrix:`; they are not two more axes
    result = workflow_from("""
    g:
      type: Workflow
      jobs:
        build:
          strategy:
            matrix:
              os: [a, b]
              v: [1, 2]
              include: [{os: c, v: 3}]
              exclude: [{os: a, v: 1}]
          stages:
            - id: show
              run: label = "${{ matrix.os }}${{ matrix.v }}"
    """).execute()
    assert result.status is Status.SUCCESS
    strategies = result.context["jobs"]["build"]["strategies"]
    assert sorted(s["stages"]["show"]["outputs"]["label"] for s in strategies.values()) == [
        "a2", "b1", "b2", "c3",
    ]  # fmt: skip
    assert sorted(strategies) == ["a-2", "b-1", "b-2", "c-3"]


def test_include_both_inside_matrix_and_beside_it_is_an_error(conf, runtime) -> None:
    from runwright.check import check_conf

    folder = conf("""
    g:
      type: Workflow
      jobs:
        build:
          strategy:
            matrix: {os: [a], include: [{os: c}]}
            include: [{os: d}]
          stages: [{id: s, echo: "${{ matrix.os }}"}]
    """)
    report = check_conf(folder, runtime)
    assert [(f.rule, f.line) for f in report.findings] == [("matrix", 7)], report.text()
    assert "'include' is given both inside 'matrix:' and beside it" in report.findings[0].message
    with pytest.raises(Exception, match="both inside 'matrix:' and beside it"):
        from runwright import Workflow

        Workflow.from_conf("g", folder, runtime=runtime)


def test_the_checker_reads_the_github_form_as_the_run_does(conf, runtime) -> None:
    from runwright.check import check_conf

    folder = conf("""
    g:
      type: Workflow
      jobs:
        build:
          strategy:
            matrix:
              os: [a]
              include: [{os: c, extra: 1}]
          stages: [{id: s, echo: "${{ matrix.extra }} ${{ matrix.include }}"}]
    """)
    report = check_conf(folder, runtime)
    assert [(f.rule, f.line) for f in report.findings] == [("unknown-matrix-key", 10)], report.text()
    assert "has no 'include'" in report.findings[0].message
