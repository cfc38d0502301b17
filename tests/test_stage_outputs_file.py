"""``$RUNWRIGHT_OUTPUT``: a param can never forge another output or the stage's return code."""

from __future__ import annotations

from pathlib import Path

from runwright import Status
from runwright.trace import read_trace

FORGED = "hi\napproved=yes\nreturn_code=7"


def warnings_of(result, stage: str) -> list[str]:
    """The messages of the run's ``warning`` trace events for ``stage``."""
    return [
        e["message"]
        for e in read_trace(Path(result.log_file))
        if e["event"] == "warning" and e.get("stage") == stage
    ]


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
              bash: |
                echo "real out"
                echo "real err" >&2
                printf 'greeting=%s\\n' "${{ params.x }}" >> "$RUNWRIGHT_OUTPUT"
                printf 'stdout=forged out\\nstderr=forged err\\n' >> "$RUNWRIGHT_OUTPUT"
    """)
    result = wf.execute({"x": FORGED})
    assert result.status is Status.SUCCESS, result.errors
    outputs = result.context["jobs"]["j"]["stages"]["greet"]["outputs"]
    assert outputs["return_code"] == 0
    assert outputs["stdout"] == "real out"
    assert outputs["stderr"] == "real err"
    assert outputs["greeting"] == "hi"
    logged = warnings_of(result, "greet")
    for name in ("return_code", "stdout", "stderr"):
        assert f"output '{name}' is set by runwright; $RUNWRIGHT_OUTPUT cannot change it" in logged, logged


def test_an_unclosed_block_ends_the_output_file(workflow_from) -> None:
    """Lines after a ``name<<EOF`` with no closing ``EOF`` are the block's text, never outputs."""
    wf = workflow_from("""
    unclosed:
      type: Workflow
      jobs:
        j:
          stages:
            - id: s
              bash: |
                echo 'before=1' >> "$RUNWRIGHT_OUTPUT"
                printf 'body<<EOF\\nsome text\\napproved=yes\\n' >> "$RUNWRIGHT_OUTPUT"
            - id: gate
              if: ${{ 'approved' in stages.s.outputs }}
              echo: forged approval
    """)
    result = wf.execute()
    stages = result.context["jobs"]["j"]["stages"]
    assert stages["s"]["outputs"]["before"] == "1"
    assert "approved" not in stages["s"]["outputs"]
    assert "body" not in stages["s"]["outputs"]
    assert stages["gate"]["status"] == "SKIP"
    assert "output 'body': no closing line 'EOF'; ignored" in warnings_of(result, "s")


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
