"""A run converts its params once, wherever it starts (command line, release, execute)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from runwright.models.params import DatetimeParam, StrParam

WORKFLOW = """
greet-once:
  type: Workflow
  params:
    name: str
    when: datetime
  jobs:
    j:
      stages:
        - id: say
          echo: "hello ${{ params.name }}"
"""


@pytest.fixture
def conversions(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Each conversion of a str or datetime param, by type (the real conversion still runs)."""
    seen: list[str] = []
    for cls in (StrParam, DatetimeParam):
        original = cls.convert

        def counted(self: Any, value: Any, _original: Callable[..., Any] = original) -> Any:
            seen.append(self.type)
            return _original(self, value)

        monkeypatch.setattr(cls, "convert", counted)
    return seen


def test_a_recorded_command_line_run_converts_each_param_once(conf: Callable[..., Path], conversions: list[str]) -> None:
    from runwright.cli import runs as _runs  # noqa: F401 - registers `run`, `logs`, `rerun` on the app
    from runwright.cli.app import app

    folder = conf(WORKFLOW)
    result = CliRunner().invoke(app, ["run", "greet-once", "--conf", str(folder), "-p", "name=ann", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["status"] == "SUCCESS"
    assert document["context"]["params"]["name"] == "ann"
    assert sorted(conversions) == ["str"]  # "when" is the run's logical date, not converted
    assert document["context"]["params"]["when"] == document["context"]["release"]["logical_date"]


def test_converted_params_given_back_to_execute_are_not_converted_again(workflow_from: Callable[..., Any], conversions: list[str]) -> None:
    workflow = workflow_from(WORKFLOW)
    typed = workflow.parameterize({"name": "bo"})
    assert sorted(conversions) == ["str"]  # "when" is the logical date: nothing to convert
    result = workflow.execute(typed)
    assert result.context["params"]["when"] == typed["when"]
    assert sorted(conversions) == ["str"]
    workflow.parameterize({"name": "cy"})  # other params are converted
    assert len(conversions) == 2
