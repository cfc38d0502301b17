"""``$RUNWRIGHT_OUTPUT``: a param can never forge another output or the stage's return code."""

from __future__ import annotations

from runwright import Status

FORGED = "hi\napproved=yes\nreturn_code=7"


def test_the_output_file_cannot_overwrite_reserved_outputs(workflow_from) -> None:
    wf = workflow_from("""
    forge:
      type: Workflow
      params:
        x: str
      jobs:
        j:
          stages:
            - id: greet
              bash: printf 'greeting=%s\\n' "${{ params.x }}" >> "$RUNWRIGHT_OUTPUT"
    """)
    result = wf.execute({"x": FORGED})
    outputs = result.context["jobs"]["j"]["stages"]["greet"]["outputs"]
    assert outputs["return_code"] == 0


def test_rw_output_keeps_a_hostile_value_as_one_value(workflow_from) -> None:
    wf = workflow_from("""
    safe:
      type: Workflow
      params:
        x: str
      jobs:
        j:
          stages:
            - id: greet
              bash: |
                rw_output greeting "${{ params.x }}"
                rw_output count 3
            - id: gate
              if: ${{ 'approved' in stages.greet.outputs }}
              echo: forged approval
    """)
    result = wf.execute({"x": FORGED})
    stages = result.context["jobs"]["j"]["stages"]
    assert result.status is Status.SUCCESS
    assert stages["greet"]["outputs"]["greeting"] == FORGED
    assert stages["greet"]["outputs"]["count"] == "3"
    assert stages["greet"]["outputs"]["return_code"] == 0
    assert "approved" not in stages["greet"]["outputs"]
    assert stages["gate"]["status"] == "SKIP"


def test_multi_line_outputs_with_a_delimiter(workflow_from) -> None:
    wf = workflow_from("""
    multi:
      type: Workflow
      jobs:
        j:
          stages:
            - id: s
              bash: |
                {
                  echo 'body<<EOF_BODY'
                  printf 'line one\\nline=two\\n'
                  echo 'EOF_BODY'
                  echo 'after=1'
                } >> "$RUNWRIGHT_OUTPUT"
                rw_output stdout nope || echo "refused $?"
    """)
    outputs = wf.execute().context["jobs"]["j"]["stages"]["s"]["outputs"]
    assert outputs["body"] == "line one\nline=two"
    assert outputs["after"] == "1"
    assert outputs["stdout"] == "refused 2"
    assert "line" not in outputs
