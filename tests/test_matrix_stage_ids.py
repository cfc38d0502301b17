"""`${{ matrix.x }}` in a stage `id:` is rendered per strategy; ids that would collide are errors."""

from __future__ import annotations

import pytest
from runwright import Status
from runwright.errors import TemplateError


def test_matrix_in_stage_id_is_rendered_per_strategy(workflow_from) -> None:
    result = workflow_from("""
    mid:
      type: Workflow
      jobs:
        j:
          strategy: {matrix: {n: [1, 2]}}
          stages:
            - {id: "build-${{ matrix.n }}", name: "Build ${{ matrix.n }}", run: "value = ${{ matrix.n }} * 10"}
            - id: each
              foreach: [a]
              stages: [{id: "inner-${{ matrix.n }}", run: "seen = ${{ item }}"}]
            - {id: after, run: "got = ${{ stages.build-1.outputs.value if matrix.n == 1 else 0 }}"}
            - {name: "Check ${{ matrix.n }}", echo: checked}
            - {id: label-only, name: "Load ${{ params.table }}", echo: a name beside an id is a label}
      params: {table: {type: str, default: t}}
    """).execute()
    assert result.status is Status.SUCCESS, result.errors
    strategies = result.context["jobs"]["j"]["strategies"]
    one, two = strategies["1"]["stages"], strategies["2"]["stages"]
    assert list(one) == ["build-1", "each", "after", "check-1", "label-only"]
    assert list(two) == ["build-2", "each", "after", "check-2", "label-only"]
    assert one["build-1"]["outputs"] == {"value": 10}
    assert two["build-2"]["outputs"] == {"value": 20}
    assert one["after"]["outputs"] == {"got": 10}
    assert list(two["each"]["outputs"]["foreach"]["0"]["stages"]) == ["inner-2"]


@pytest.mark.parametrize(
    ("job", "words"),
    [
        (
            """
          strategy: {matrix: {n: [1, 2]}}
          stages:
            - {id: "a-${{ matrix.n }}", echo: x}
            - {id: a-1, echo: y}
            """,
            "'a-1'",
        ),
        (
            """
          strategy: {matrix: {n: [1, 2], m: [x, y]}}
          stages:
            - {id: "a-${{ matrix.n }}", echo: x}
            - {id: "a-${{ matrix.n }}", name: other, echo: y}
            """,
            "a-${{ matrix.n }}",
        ),
        (
            """
          stages:
            - {id: "a-${{ matrix.n }}", echo: x}
            """,
            "strategy",
        ),
        (
            """
          strategy: {matrix: {n: [1, 2]}}
          stages:
            - {id: "a-${{ params.n }}", echo: x}
            """,
            "matrix",
        ),
    ],
)
def test_bad_matrix_ids_are_template_errors(workflow_from, job: str, words: str) -> None:
    with pytest.raises(TemplateError) as caught:
        workflow_from(
            """
    mid:
      type: Workflow
      params: {n: int}
      jobs:
        j:"""
            + job
        )
    message = str(caught.value)
    assert "jobs.j" in message and words in message, message
