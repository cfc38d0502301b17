"""Where in the template a run's error comes from (the run page marks that line)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from runwright.loader import discover
from runwright.runtime import Runtime
from runwright_api.source_view import error_line, template_lines

CONF = """\
# a comment before the first template
first:
  type: Workflow
  jobs:
    build:
      stages:
        - id: prepare
          echo: ready
        - id: compile
          bash: 'make ${{ params.target }}'

second:
  type: Workflow
  jobs:
    only:
      stages:
        - {id: one, echo: done}
"""


def sources(tmp_path: Path) -> dict:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "flows.yml").write_text(textwrap.dedent(CONF))
    return discover(tmp_path / "conf")


def test_a_template_s_lines_are_its_own_with_their_numbers(tmp_path: Path) -> None:
    found = sources(tmp_path)
    first = template_lines(found["first"])
    assert first is not None
    assert first.lines[0] == (2, "first:") and first.lines[-1] == (
        10,
        "          bash: 'make ${{ params.target }}'",
    )
    second = template_lines(found["second"])
    assert second is not None and second.lines[0] == (12, "second:") and second.lines[-1][0] == 17


def test_an_error_points_at_its_stage_its_job_or_the_place_an_expression_names(tmp_path: Path) -> None:
    found = sources(tmp_path)
    source = found["first"]
    from runwright.loader import build_model
    from runwright.models.workflow import Workflow

    workflow = build_model(source, Runtime.default(), Workflow)
    assert (
        error_line(
            source, workflow, {"name": "BashError", "message": "exit 2", "job": "build", "stage": "compile"}
        )
        == 9
    )
    assert error_line(source, workflow, {"name": "JobError", "message": "x", "job": "build"}) == 5
    named = {
        "name": "ExpressionError",
        "message": f"'params.target' is undefined ({source.file}:10:28)",
        "job": "build",
    }
    assert error_line(source, workflow, named) == 10
    assert error_line(source, workflow, {"name": "Crashed", "message": "process is gone"}) is None
