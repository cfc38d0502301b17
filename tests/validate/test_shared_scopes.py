"""The checker and the runtime agree on what each bound name holds (one description)."""

from __future__ import annotations

from runwright import Status
from runwright.models.stage import STAGE_RECORD_KEYS

LOOPS = """
loops:
  type: Workflow
  jobs:
    j:
      stages:
        - id: each
          foreach: [a]
          stages:
            - id: seen
              run: "keys = sorted(${{ loop }})"
        - id: again
          until: "loop.index >= 0"
          stages:
            - id: seen
              run: "keys = sorted(${{ loop }})"
        - id: after
          run: "keys = sorted(${{ stages.each }})"
"""


def test_bound_names_hold_what_the_stage_kinds_declare(workflow_from) -> None:
    workflow = workflow_from(LOOPS)
    result = workflow.execute()
    assert result.status is Status.SUCCESS, result.errors
    stages = result.context["jobs"]["j"]["stages"]
    for stage in workflow.jobs["j"].stage_list[:2]:
        (scope,) = workflow.runtime.pm.hook.stage_scopes(stage=stage)
        record = stages[stage.identity]["outputs"]
        runs = record.get("foreach") or record.get("until")
        seen = runs["0"]["stages"]["seen"]["outputs"]["keys"]
        assert seen == sorted(scope.binds["loop"]), stage.kind
    assert set(stages["after"]["outputs"]["keys"]) <= set(STAGE_RECORD_KEYS)
