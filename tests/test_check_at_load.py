"""A workflow loaded by name is checked when it is loaded; what the check found is said and
applied when it runs: its warnings once, its errors stop it (a workflow built in Python is
checked at its run). A dry run prints the findings once, on its own."""

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


def test_warnings_are_said_once_when_the_workflow_first_runs(workflow_from, isolated_env, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="runwright.check")
    workflow = workflow_from(NEVER)
    assert [r for r in caplog.records if r.name == "runwright.check"] == []  # loaded: checked, not said
    assert workflow.execute().status.value == "SUCCESS"
    said = [r.getMessage() for r in caplog.records if r.name == "runwright.check"]
    assert len(said) == 1 and "is always false" in said[0] and "[condition-constant]" in said[0]
    caplog.clear()
    assert workflow.execute().status.value == "SUCCESS"
    assert [r for r in caplog.records if r.name == "runwright.check"] == []


def test_a_dry_run_shows_each_finding_once(tmp_path) -> None:
    from tests.conftest import run_cli

    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "never.yml").write_text(NEVER, encoding="utf-8")
    done = run_cli("run", "never", "--conf", str(conf), "--dry-run", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (done.stdout + done.stderr).count("[condition-constant]") == 1


def test_errors_found_at_load_still_stop_the_run(workflow_from, isolated_env) -> None:
    workflow = workflow_from(BROKEN)  # loading succeeds: the template is data
    with pytest.raises(CheckFailed, match="missing"):
        workflow.execute()
