"""Safe by default: hostile params are data, never script or code; no arbitrary imports."""

from __future__ import annotations

from pathlib import Path

import pytest
from runwright import Status
from runwright.errors import CallResolutionError

HOSTILE = 'x"; touch {marker}; echo "'


def test_bash_expressions_are_never_spliced(workflow_from, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    wf = workflow_from("""
    wf:
      type: Workflow
      params: {name: str}
      jobs:
        j:
          stages:
            - id: greet
              bash: |
                echo "hi ${{ params.name }}"
                echo 'single ${{ params.name }}'
                echo ${{ params.name }} | wc -c
    """)
    value = HOSTILE.format(marker=marker)
    result = wf.execute({"name": value})
    assert result.status is Status.SUCCESS
    lines = result.context["jobs"]["j"]["stages"]["greet"]["outputs"]["stdout"].splitlines()
    assert lines[0] == f"hi {value}"
    # inside single quotes the shell does not expand: the variable reference shows, not the value
    assert lines[1] == "single ${RW_EXPR_2}"
    assert not marker.exists()


def test_bash_script_runs_in_private_temp_dir(workflow_from, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    wf = workflow_from("""
    wf:
      type: Workflow
      jobs:
        j:
          stages:
            - id: where
              bash: pwd; ls
    """)
    result = wf.execute()
    outputs = result.context["jobs"]["j"]["stages"]["where"]["outputs"]
    workdir = outputs["stdout"].splitlines()[0]
    assert workdir != str(tmp_path) and "runwright-" in workdir
    assert not Path(workdir).exists()  # cleaned up after the run
    # only the state folder beside conf (its template index) and the test's own logs
    assert sorted(p.name for p in tmp_path.iterdir()) == [".runwright", "conf", "logs"]


def test_py_expressions_are_bound_not_spliced(workflow_from, tmp_path: Path) -> None:
    marker = tmp_path / "pwned-py"
    wf = workflow_from("""
    wf:
      type: Workflow
      params: {name: str}
      jobs:
        j:
          stages:
            - id: code
              run: |
                greeting = "hi " + ${{ params.name }}
                length = len(${{ params.name }})
    """)
    value = f"\" + __import__('pathlib').Path('{marker}').touch() or \""
    result = wf.execute({"name": value})
    assert result.status is Status.SUCCESS, result.errors
    outputs = result.context["jobs"]["j"]["stages"]["code"]["outputs"]
    assert outputs == {"greeting": "hi " + value, "length": len(value)}
    assert not marker.exists()


def test_uses_never_imports_an_arbitrary_path(workflow_from) -> None:
    wf = workflow_from("""
    wf:
      type: Workflow
      jobs:
        j:
          stages:
            - id: sneaky
              uses: os/system@latest
              with: {command: "echo owned"}
    """)
    from runwright.check import CheckFailed

    with pytest.raises(CheckFailed) as caught:  # refused before the run starts
        wf.execute()
    assert "no module 'os' (looked for runwright_contrib.os, then in plugins)" in str(caught.value)
    assert "[uses-unknown]" in str(caught.value)
    assert "tasks/greet@local" in str(caught.value)  # lists what is available
    with pytest.raises(CallResolutionError, match=r"no module 'os' \(looked for runwright_contrib.os"):
        wf.runtime.resolve_call("os/system@latest")


def test_untagged_functions_are_not_callable(runtime) -> None:
    # runwright_contrib.tasks imports names (Literal, BaseModel...) that are not @tag-ged
    with pytest.raises(CallResolutionError):
        runtime.resolve_call("tasks/BaseModel@latest")
