"""One did-you-mean for every kind of name: a true edit distance (transpositions count as one
edit) plus the names other tools use for the same thing."""

from __future__ import annotations

import pytest
from runwright.check import check_conf
from runwright.errors import ParamError
from runwright.spelling import closest, distance

from tests.conftest import run_cli


def test_distance_counts_a_transposition_as_one_edit() -> None:
    assert distance("mdoe", "mode") == 1
    assert distance("nmae", "name") == 1
    assert distance("prepair", "prepare") == 2
    assert distance("kitten", "sitting") == 3
    assert distance("", "abc") == 3


@pytest.mark.parametrize(
    ("word", "choices", "meant"),
    [
        ("integer", ["str", "int", "float", "center"], "int"),
        ("date_format", ["fmt", "format", "upper"], "fmt"),
        ("steps", ["stages", "needs", "strategy"], "stages"),
        ("runs_on", ["runs-on", "needs"], "runs-on"),
        ("runsOn", ["runs-on", "needs"], "runs-on"),
        ("Europe/Berln", ["Europe/Berlin", "Europe/Bern"], "Europe/Berlin"),
        ("prepair", ["prepare", "load"], "prepare"),
        ("mdoe", ["mode", "name"], "mode"),
        ("batch_id", ["batch-id", "rows"], "batch-id"),
    ],
)
def test_closest_finds_what_was_meant(word, choices, meant) -> None:
    assert closest(word, choices) == meant


def test_far_names_get_no_suggestion() -> None:
    assert closest("x", ["y", "z"]) is None
    assert closest("extract", ["load", "report"]) is None


MISTAKES = """
w:
  type: Workflow
  params:
    n: {type: integer, default: 1}
    day: {type: date, default: 2024-01-01}
  on:
    - cronjob: "0 1 * * *"
      timezone: Europe/Berln
  jobs:
    prepare:
      stages: [{id: s, echo: "${{ params.day | date_format('%Y') }}"}]
    load:
      needs: [prepair]
      steps: [{id: t, echo: hi}]
      stages: [{id: u, echo: hi}]
"""


def test_every_kind_of_name_gets_its_suggestion(conf, runtime) -> None:
    report = check_conf(conf(MISTAKES), runtime)
    messages = {f.line: f.message for f in report.findings}
    assert "did you mean 'int'?" in messages[5], report.text()
    assert "did you mean 'Europe/Berlin'?" in messages[9], report.text()
    assert "did you mean 'fmt'?" in messages[12], report.text()
    assert "did you mean 'prepare'?" in messages[14], report.text()
    assert "did you mean 'stages'?" in messages[15], report.text()


PARAMS = """
w:
  type: Workflow
  params:
    mode: {type: str, default: slow}
    count: {type: int, default: 1}
  jobs:
    j: {stages: [{id: s, echo: "${{ params.mode }}"}]}
"""


def test_a_param_one_edit_from_a_declared_one_is_an_error(workflow_from) -> None:
    with pytest.raises(ParamError, match="did you mean 'mode'"):
        workflow_from(PARAMS).execute({"mdoe": "fast"})


def test_the_command_line_refuses_every_bad_param_at_once(conf) -> None:
    folder = conf(PARAMS)
    done = run_cli("run", "w", "--conf", str(folder), "-p", "mdoe=fast", "-p", "count=many")
    assert done.returncode == 2, done.stdout + done.stderr
    text = done.stdout + done.stderr
    assert "'mdoe'" in text and "did you mean 'mode'" in text, text
    assert "'count'" in text and "expected an integer" in text, text
    assert "many" not in text  # a -p value is never echoed (it may be a secret)
    assert "Traceback" not in text
