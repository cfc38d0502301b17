"""Nested stages read their own stages first, then the enclosing scopes' earlier stages."""

from __future__ import annotations

import pytest
from runwright import Status


def test_nested_stages_read_the_enclosing_jobs_earlier_stages(workflow_from) -> None:
    result = workflow_from("""
    scopes:
      type: Workflow
      jobs:
        j:
          stages:
            - {id: make, run: "foo = 'outer'"}
            - id: each
              foreach: [1, 2]
              stages:
                - {id: read, run: "seen = ${{ stages.make.outputs.foo }} + str(${{ item }})"}
            - id: branches
              parallel:
                left:
                  - {id: read, run: "seen = ${{ stages.make.outputs.foo }}"}
                shadow:
                  - {id: make, run: "foo = 'inner'"}
                  - {id: read, run: "seen = ${{ stages.make.outputs.foo }}"}
                deeper:
                  - id: inner-each
                    foreach: [x]
                    stages:
                      - {id: read, run: "seen = ${{ stages.make.outputs.foo }} + ${{ stages.each.outputs.items | length | string }}"}
            - id: pick
              case: "${{ stages.make.outputs.foo }}"
              match:
                - case: outer
                  stages: [{id: read, run: "seen = ${{ stages.make.outputs.foo }}"}]
            - id: loop
              until: "stages.read.outputs.seen == 'outer'"
              stages: [{id: read, run: "seen = ${{ stages.make.outputs.foo }}"}]
    """).execute()
    assert result.status is Status.SUCCESS, result.errors
    stages = result.context["jobs"]["j"]["stages"]

    def seen(record: dict) -> str:
        return record["stages"]["read"]["outputs"]["seen"]

    each = stages["each"]["outputs"]["foreach"]
    assert [seen(each[i]) for i in ("0", "1")] == ["outer1", "outer2"]
    branches = stages["branches"]["outputs"]["parallel"]
    assert seen(branches["left"]) == "outer"
    assert seen(branches["shadow"]) == "inner"  # a body's own stage comes first
    inner = branches["deeper"]["stages"]["inner-each"]["outputs"]["foreach"]["0"]
    assert seen(inner) == "outer2"
    assert seen(stages["pick"]["outputs"]) == "outer"
    assert stages["loop"]["outputs"]["loops"] == 1


def test_nested_stages_do_not_see_later_outer_stages(workflow_from, runtime) -> None:
    """A later outer stage is refused before the run (the checker) and, reached without the
    checker, at run time: the nested scope never holds it."""
    from runwright.check import CheckFailed
    from runwright.engine.context import nested_stages_scope

    workflow = workflow_from("""
    scopes:
      type: Workflow
      jobs:
        j:
          stages:
            - id: each
              foreach: [1]
              stages: [{id: read, run: "seen = ${{ stages.later.outputs.foo }}"}]
            - {id: later, run: "foo = 1"}
    """)
    with pytest.raises(CheckFailed, match=r"stages has no 'later'.*\[unknown-stage\]"):
        workflow.execute()
    # the runtime's scope for the body, as the engine builds it when the foreach runs
    outer_so_far = {"make": {"status": "SUCCESS", "outputs": {"foo": 1}}}
    own: dict = {}
    scope = nested_stages_scope(own, outer_so_far)
    assert "later" not in scope and scope["make"]["outputs"] == {"foo": 1}
    own["make"] = {"status": "SUCCESS", "outputs": {"foo": "inner"}}
    assert scope["make"]["outputs"] == {"foo": "inner"}  # the body's own stage comes first
