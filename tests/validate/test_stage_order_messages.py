"""A stage that reads a later stage, or itself, is refused before the run with the reason."""

from __future__ import annotations

import pytest
from runwright.check import CheckFailed

ORDER = """
order:
  type: Workflow
  jobs:
    j:
      stages:
        - id: first
          echo: "${{ stages.third.status }}"
        - id: second
          echo: "${{ stages.second.status }}"
        - id: third
          echo: "${{ stages.first.status }}"
"""


def test_later_and_own_stage_reads_are_refused_with_the_reason(workflow_from) -> None:
    workflow = workflow_from(ORDER)
    with pytest.raises(CheckFailed) as raised:
        workflow.execute()
    text = str(raised.value)
    assert "'stages.third' is not available here: it runs later" in text
    assert "'stages.second' is not available here: that is this stage itself" in text
    assert "stages.first" not in text  # an earlier stage is there
