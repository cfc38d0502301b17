"""Permanent errors are not retried: an expression that cannot be evaluated, a key a value does
not have, bad arguments to a ``uses:`` function fail at once, whatever ``retry`` says; retry is
for the stage's own failures, and ``retry.on`` naming the error opts in."""

from __future__ import annotations

from runwright import Status

PERMANENT = """
perm:
  type: Workflow
  params:
    cfg: {type: map, default: {a: 1}}
    word: {type: str, default: abc}
  jobs:
    j:
      stages:
        - id: missing-key
          retry: {max-attempts: 4, delay-seconds: 1}
          echo: "${{ params.cfg.b.c }}"
          continue-on-error: true
        - id: bad-arguments
          retry: {max-attempts: 4, delay-seconds: 1}
          uses: tasks/greet@local
          with: {name: x, times: "${{ params.word }}"}
          continue-on-error: true
        - id: opted-in
          retry: {max-attempts: 3, delay-seconds: 0, on: [ExpressionError]}
          echo: "${{ params.cfg.b.c }}"
          continue-on-error: true
        - id: own-failure
          retry: {max-attempts: 2, delay-seconds: 0}
          bash: exit 3
"""


def test_permanent_errors_fail_at_once_and_retry_keeps_the_stage_own_failures(workflow_from) -> None:
    result = workflow_from(PERMANENT).execute()
    assert result.status is Status.FAILED
    stages = result.context["jobs"]["j"]["stages"]
    missing = stages["missing-key"]
    assert missing["outcome"] == "FAILED" and missing["attempts"] == 1, missing
    assert missing["attempt_errors"][0]["name"] == "ExpressionError"
    bad = stages["bad-arguments"]
    assert bad["attempts"] == 1 and bad["attempt_errors"][0]["name"] == "CallArgumentError", bad
    assert stages["opted-in"]["attempts"] == 3
    assert stages["own-failure"]["attempts"] == 2
