"""A workflow loaded by name is checked when it is loaded: its warnings are said then, once,
and its errors still stop it when it runs (a workflow built in Python is checked at its run)."""

from __future__ import annotations

import logging

import pytest
from runwright.check import CheckFailed

NEVER = """
never:
  type: Workflow
  jobs:
    only:
      stages:
        - {id: skipped, echo: never, if: "${{ 1 == 2 }}"}
        - {id: said, echo: hello}
"""

BROKEN = """
broken:
  type: Workflow
  jobs:
    only:
      stages:
        - {id: reads-nothing, echo: "${{ params.missing }}"}
"""


def test_warnings_are_said_once_when_the_workflow_is_loaded(workflow_from, isolated_env, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="runwright.check")
    workflow = workflow_from(NEVER)
    at_load = [r.getMessage() for r in caplog.records if r.name == "runwright.check"]
    assert len(at_load) == 1 and "is always false" in at_load[0] and "[condition-constant]" in at_load[0]
    caplog.clear()
    assert workflow.execute().status.value == "SUCCESS"
    assert workflow.execute().status.value == "SUCCESS"
    assert [r for r in caplog.records if r.name == "runwright.check"] == []


def test_errors_found_at_load_still_stop_the_run(workflow_from, isolated_env) -> None:
    workflow = workflow_from(BROKEN)  # loading succeeds: the template is data
    with pytest.raises(CheckFailed, match="missing"):
        workflow.execute()
