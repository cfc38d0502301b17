"""`runwright validate` and the checks before a run, through the real command line."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import REPO, run_cli

GOOD = """
good:
  type: Workflow
  params: {name: {type: str, default: x}}
  jobs:
    j:
      stages:
        - id: s
          echo: "hi ${{ params.name }}"
"""
TYPO = """
typo:
  type: Workflow
  params: {name: {type: str, default: x}}
  jobs:
    j:
      stages:
        - id: s
          bash: echo ran > "$MARKER"
          env: {MARKER: "${{ params.marker }}"}
        - id: t
          echo: "${{ parms.name }}"
"""
ENV = """
needs-env:
  type: Workflow
  jobs:
    j:
      stages:
        - id: s
          echo: "${RW_TEST_UNSET_ONE} and ${RW_TEST_UNSET_TWO} and ${RW_TEST_SET:-default}"
"""


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("RW_TEST_")}


def test_all_files_all_problems_and_a_broken_file_does_not_hide_the_rest(conf) -> None:
    conf(GOOD, "a.yml")
    conf(TYPO, "b.yml")
    folder = conf("broken:\n  type: Workflow\n  jobs: [oops\n", "c.yml")
    result = run_cli("validate", str(folder))
    assert result.returncode == 2, result.stdout
    lines = result.stdout.splitlines()
    assert any(line.startswith(f"{folder / 'b.yml'}:10:") and "[unknown-param]" in line for line in lines)
    assert any(line.startswith(f"{folder / 'b.yml'}:12:") and "[unknown-name]" in line for line in lines)
    assert any(line.startswith(f"{folder / 'c.yml'}:") and "[yaml]" in line for line in lines)
    assert "2 template(s) in 3 file(s): 3 error(s)" in result.stdout


def test_json_format_lists_every_finding(conf) -> None:
    folder = conf(TYPO)
    result = run_cli("validate", str(folder), "--format", "json")
    assert result.returncode == 2
    findings = json.loads(result.stdout)
    assert [(f["line"], f["rule"], f["severity"]) for f in findings] == [
        (10, "unknown-param", "error"),
        (12, "unknown-name", "error"),
    ]
    assert set(findings[0]) == {"file", "line", "col", "severity", "rule", "message", "where"}
    assert findings[1]["col"] == 18 and "did you mean 'params'" in findings[1]["message"]


def test_unset_variables_are_warnings_unless_strict(conf) -> None:
    folder = conf(ENV)
    lenient = run_cli("validate", str(folder), env=clean_env())
    assert lenient.returncode == 0, lenient.stdout
    assert lenient.stdout.count("[env-missing]") == 2 and "warning:" in lenient.stdout
    strict = run_cli("validate", str(folder), "--strict-env", env=clean_env())
    assert strict.returncode == 2
    assert strict.stdout.count("error:") == 2


def test_a_run_names_every_missing_variable_in_one_message(conf) -> None:
    folder = conf(ENV)
    result = run_cli("run", "needs-env", "--conf", str(folder), env=clean_env())
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert "RW_TEST_UNSET_ONE" in errors[0] and "RW_TEST_UNSET_TWO" in errors[0]
    assert "RW_TEST_SET" not in errors[0]


def test_run_of_a_template_in_another_file_works_with_one_warning(conf) -> None:
    conf(GOOD, "a.yml")
    folder = conf("broken:\n  type: Workflow\n  jobs: [oops\n", "c.yml")
    result = run_cli("run", "good", "--conf", str(folder))
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "c.yml" in line]
    assert len(warnings) == 1 and "warning" in warnings[0]


def test_checker_errors_stop_a_run_with_the_validate_messages(conf, tmp_path: Path) -> None:
    folder = conf(TYPO)
    marker = tmp_path / "ran.txt"
    validate = run_cli("validate", str(folder))
    run = run_cli("run", "typo", "--conf", str(folder), "-p", f"marker={marker}")
    assert run.returncode == 2
    for line in validate.stdout.splitlines()[:-1]:
        assert line in run.stderr
    assert not marker.exists()


def test_dry_run_reports_the_checker_findings(conf) -> None:
    folder = conf(TYPO)
    result = run_cli("run", "typo", "--conf", str(folder), "--dry-run")
    assert result.returncode == 1
    assert "[unknown-name]" in result.stdout and "dry run: FAILED" in result.stdout


@pytest.mark.parametrize("target", ["conf", "conf/examples/hello.yml"])
def test_the_shipped_conf_passes_on_a_fresh_clone(target: str) -> None:
    env = {k: v for k, v in clean_env().items() if "AWS" not in k and "API_" not in k}
    result = run_cli("validate", str(REPO / target), env=env)
    assert result.returncode == 0, result.stdout
    assert "0 error(s)" in result.stdout
