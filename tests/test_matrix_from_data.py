"""Fan-out from data: a matrix axis from an array param or from a needed job's output, typed by
the checker, capped by the same bound as a written matrix."""

from __future__ import annotations

from runwright import Status
from runwright.check import check_conf

FAN = """
fan:
  type: Workflow
  params:
    regions: {type: array, default: [eu, us]}
    name: {type: str, default: x}
  jobs:
    plan:
      outputs:
        parts: ${{ stages.p.outputs.parts }}
        one: ${{ stages.p.outputs.one }}
      stages:
        - id: p
          run: |
            parts = ["x", "y"]
            one = "not a list"
    work:
      needs: [plan]
      strategy:
        matrix:
          region: ${{ params.regions }}
          part: ${{ jobs.plan.outputs.parts }}
      stages:
        - id: s
          run: label = "${{ matrix.region }}-${{ matrix.part }}"
"""


def labels(result) -> list[str]:
    strategies = result.context["jobs"]["work"]["strategies"]
    return sorted(s["stages"]["s"]["outputs"]["label"] for s in strategies.values())


def test_axes_from_an_array_param_and_a_needed_jobs_output(workflow_from) -> None:
    workflow = workflow_from(FAN)
    result = workflow.execute()
    assert result.status is Status.SUCCESS, result.errors
    assert labels(result) == ["eu-x", "eu-y", "us-x", "us-y"]
    result = workflow.execute({"regions": ["ap"]})
    assert labels(result) == ["ap-x", "ap-y"]


def test_data_axes_are_capped_by_the_same_bound(workflow_from, monkeypatch) -> None:
    monkeypatch.setenv("RUNWRIGHT_MAX_STRATEGIES", "3")
    result = workflow_from(FAN).execute()
    assert result.status is Status.FAILED
    assert "more than 3 (RUNWRIGHT_MAX_STRATEGIES)" in result.errors[0]["message"], result.errors


def test_a_value_that_is_not_a_list_fails_the_job_naming_the_axis(workflow_from) -> None:
    result = workflow_from(FAN.replace("jobs.plan.outputs.parts", "jobs.plan.outputs.one")).execute()
    assert result.status is Status.FAILED
    message = result.errors[0]["message"]
    assert (
        "matrix axis 'part': ${{ jobs.plan.outputs.one }} gave str 'not a list', expected a list" in message
    )


def test_the_checker_types_data_axes(conf, runtime) -> None:
    text = FAN.replace("${{ params.regions }}", "${{ params.name }}").replace(
        "jobs.plan.outputs.parts", "jobs.plan.outputs.prts"
    )
    report = check_conf(conf(text), runtime)
    found = sorted((f.line, f.rule, f.message) for f in report.findings)
    assert [(line, rule) for line, rule, _ in found] == [(21, "matrix"), (22, "unknown-key")], report.text()
    assert "matrix axis 'region' takes params.name, a str param; a list is expected" in found[0][2]
    assert "did you mean 'parts'?" in found[1][2]
    written = conf(FAN.replace("${{ params.regions }}", "eu, us"))
    report = check_conf(written, runtime)
    assert [f.rule for f in report.findings] == ["schema"], report.text()
    assert "must be a list or one ${{ }} expression" in report.findings[0].message


def test_foreach_from_a_param_must_take_an_array(conf, runtime) -> None:
    text = """
    f:
      type: Workflow
      params: {items: {type: array, default: [1, 2]}, name: str}
      jobs:
        j:
          stages:
            - id: ok
              foreach: ${{ params.items }}
              stages: [{id: s, echo: "${{ item }}"}]
            - id: wrong
              foreach: ${{ params.name }}
              stages: [{id: t, echo: "${{ item }}"}]
    """
    report = check_conf(conf(text), runtime)
    assert [(f.rule, f.line) for f in report.findings] == [("foreach", 12)], report.text()
    assert "foreach takes params.name, a str param; a list is expected" in report.findings[0].message
