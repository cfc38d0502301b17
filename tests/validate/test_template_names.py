"""A template's name is part of URLs (the API, the pages), of CLI arguments and of expressions:
a name no URL can hold is refused when the file is checked, not found unreachable later."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_cli

BODIES = {
    "Workflow": "  type: Workflow\n  jobs:\n    j:\n      stages:\n        - id: s\n          echo: hi\n",
    "Schedule": "  type: Schedule\n  workflows:\n    - name: other\n      on: [{cronjob: '0 2 * * *'}]\n",
    "Pool": "  type: Pool\n  slots: 2\n",
}
#: Names a URL, a command line and an expression can all hold (the API reaches each: tests/api).
VALID_NAMES = ["nightly load (v2)", "team.load?v=2#x", "100% done", "ünï-cødé", "a\\b", "v1.2"]


def validate(folder: Path, name: str, kind: str) -> tuple[int, str]:
    (folder / "names.yml").write_text(f"{json.dumps(name)}:\n{BODIES[kind]}", encoding="utf-8")
    done = run_cli("validate", "--conf", str(folder))
    return done.returncode, done.stdout + done.stderr


@pytest.mark.parametrize("kind", sorted(BODIES))
@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("team/load", "cannot contain '/'"),
        ("..", "cannot be '..'"),
        (".", "cannot be '.'"),
        ("tab\there", "cannot contain '\\t'"),
        ("a${b}", "cannot contain '$', '{', '}'"),
    ],
)
def test_a_name_no_url_can_hold_is_an_error_naming_file_template_and_field(
    tmp_path: Path, name: str, said: str, kind: str
) -> None:
    code, output = validate(tmp_path, name, kind)
    assert code == 2, output  # what validate exits with on an error
    [line] = [line for line in output.splitlines() if " name: " in line]
    assert line.startswith(f"{tmp_path / 'names.yml'}:"), line
    assert f"template '{name}' name: a template name {said}" in line, line
    assert "pattern" not in line and "Value error" not in line, line
    assert "Traceback" not in output


@pytest.mark.parametrize("kind", sorted(BODIES))
@pytest.mark.parametrize("name", VALID_NAMES)
def test_other_names_stay_valid(tmp_path: Path, name: str, kind: str) -> None:
    if kind == "Schedule":  # its workflow must exist
        (tmp_path / "other.yml").write_text(f"other:\n{BODIES['Workflow']}", encoding="utf-8")
    code, output = validate(tmp_path, name, kind)
    assert code == 0, output


def test_the_editors_schema_refuses_the_same_names() -> None:
    """``runwright schema`` gives editors the rule as ``propertyNames`` of the file."""
    import jsonschema

    done = run_cli("schema")
    assert done.returncode == 0, done.stderr
    validator = jsonschema.Draft202012Validator(json.loads(done.stdout))
    body = {"type": "Pool", "slots": 1}
    for name in ["team/load", "..", ".", "tab\there", "a${b}", ""]:
        assert not validator.is_valid({name: body}), name
    for name in [*VALID_NAMES, "..a"]:
        assert validator.is_valid({name: body}), name
