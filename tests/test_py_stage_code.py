"""`run:` code: expressions inside string literals land as data; outputs are the names it binds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from runwright import Status


def run_code(workflow_from, code: str, params: dict | None = None, declared: str = "{}", vars_: str = "{}"):
    wf = workflow_from(f"""
    code:
      type: Workflow
      params: {declared}
      jobs:
        j:
          stages:
            - id: s
              vars: {vars_}
              run: {json.dumps(code.strip() + chr(10))}
    """)
    result = wf.execute(params or {})
    return result, result.context["jobs"]["j"]["stages"]["s"]


def test_expression_inside_a_string_literal_is_its_value(workflow_from) -> None:
    result, record = run_code(
        workflow_from,
        """
single = 'Hello ${{ params.who }}!'
double = "${{ params.who }}"
triple = '''<${{ params.who }}>
{braces} stay'''
raw = r'\\d ${{ params.n }}'
joined = 'a' 'b ${{ params.n }}' "c"
fstring = f'{len(single)}: ${{ params.who }} {{x}}'
code = ${{ params.n }} + 1
        """,
        {"who": "Ada", "n": "2"},
        declared="{who: str, n: int}",
    )
    assert result.status is Status.SUCCESS, result.errors
    assert record["outputs"] == {
        "single": "Hello Ada!",
        "double": "Ada",
        "triple": "<Ada>\n{braces} stay",
        "raw": "\\d 2",
        "joined": "ab 2c",
        "fstring": "10: Ada {x}",
        "code": 3,
    }


def test_values_in_string_literals_are_inert(workflow_from, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    hostile = [
        "'); import os; ('",
        f"' + __import__('pathlib').Path('{marker}').touch() + '",
        'x"""; __import__("pathlib").Path("' + str(marker) + '").touch(); """',
        "line one\nline two\\n {0} {who} %s \\",
    ]
    for value in hostile:
        result, record = run_code(
            workflow_from,
            """
a = '${{ params.v }}'
b = "[${{ params.v }}]"
c = '''${{ params.v }}'''
            """,
            {"v": value},
            declared="{v: str}",
        )
        assert result.status is Status.SUCCESS, result.errors
        assert record["outputs"] == {"a": value, "b": f"[{value}]", "c": value}
    assert not marker.exists()


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("x = b'raw ${{ params.v }}'", "bytes"),
        ("x = f'{1:${{ params.v }}}'", "format spec"),
        ("x = 'Hi ${{ params.v }} {}'.format(1)", ".format"),
        ("x = ('Hi ${{ params.v }}'  # note\n  ' {}').format_map({})", ".format"),
        ("x = 'Hi ${{ params.v }} %s' % 1", "%"),
    ],
)
def test_unsafe_places_are_errors_naming_stage_and_line(workflow_from, code: str, words: str) -> None:
    result, record = run_code(workflow_from, "first = 1\n" + code, {"v": "5"}, declared="{v: str}")
    assert record["status"] == "FAILED"
    message = record["errors"][0]["message"]
    assert "stage 's'" in message and "line 2" in message and words in message


def test_reassigned_vars_are_outputs(workflow_from) -> None:
    result, record = run_code(
        workflow_from,
        """
import json
x = x + 'b'
def helper():
    return 1
class Thing:
    pass
_private = 1
total = helper() + len(json.dumps(kept))
for index in range(2):
    pass
        """,
        vars_="{x: a, kept: [1]}",
    )
    assert result.status is Status.SUCCESS, result.errors
    assert record["outputs"] == {"x": "ab", "total": 4, "index": 1}


def test_reassigned_vars_and_string_values_under_process_isolation(workflow_from) -> None:
    """The two rules of run: code hold whichever way it executes (thread or child process)."""
    workflow = workflow_from(
        """
        iso-wf:
          type: Workflow
          params:
            who: {type: str, default: "O'Hara"}
          jobs:
            j:
              stages:
                - id: s
                  isolation: process
                  vars: {x: a}
                  run: |
                    x = x + 'b'
                    greeting = 'Hello ${{ params.who }}'
        """
    )
    result = workflow.execute()
    assert result.status.value == "SUCCESS", result.errors
    assert result.context["jobs"]["j"]["stages"]["s"]["outputs"] == {"x": "ab", "greeting": "Hello O'Hara"}
