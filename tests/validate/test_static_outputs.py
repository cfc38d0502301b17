"""``stages.ID.outputs.NAME`` is checked where the names a stage binds are known before it runs:
a ``run:`` stage's assignments (AST), a bash script's literal ``rw_output NAME`` and
``$RUNWRIGHT_OUTPUT`` lines, a ``uses:`` function's return annotation, a plugin kind's
declaration through ``check_stage``. Where they cannot be known, nothing is reported."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
from runwright import Status, Workflow
from runwright.check import check_conf
from runwright.runtime import Runtime

from tests.validate.test_plugin_hooks import TEMPLATE, plugin_runtime


@pytest.fixture
def typed_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    package = tmp_path / "pkgs" / "typed_calls"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "out.py").write_text(
        textwrap.dedent("""
        from dataclasses import dataclass
        from typing import Any, TypedDict
        from pydantic import BaseModel, Field
        from runwright import tag

        class Counted(TypedDict):
            rows: int
            table: str

        @dataclass
        class Loaded:
            batch_id: str
            rows: int = 0

        class Report(BaseModel):
            row_count: int = Field(alias="row-count")

        @tag("v1")
        def count() -> Counted:
            return {"rows": 3, "table": "t"}

        @tag("v1")
        def load() -> Loaded:
            return Loaded(batch_id="b1", rows=2)

        @tag("v1")
        def report() -> Report:
            return Report(**{"row-count": 5})

        @tag("v1")
        def anything() -> dict[str, Any]:
            return {"x": 1}
        """)
    )
    monkeypatch.syspath_prepend(str(package.parent))
    monkeypatch.setenv("RUNWRIGHT_REGISTRY", "typed_calls")
    yield "typed_calls"
    for name in [m for m in sys.modules if m.startswith("typed_calls")]:
        del sys.modules[name]


def findings(folder: Path, runtime: Runtime) -> list[tuple[int, str, str]]:
    return [(f.line, f.rule, f.message) for f in check_conf(folder, runtime).sorted()]


def test_output_names_no_stage_binds_are_errors_with_did_you_mean(conf, runtime) -> None:
    folder = conf("""
    w:
      type: Workflow
      jobs:
        a:
          stages:
            - id: calc
              run: |
                total = 1 + 2
                for row in range(2):
                    pass
            - id: sh
              bash: |
                rw_output batch-id 42
                echo "rows=3" >> "$RUNWRIGHT_OUTPUT"
            - id: use
              echo: "${{ stages.calc.outputs.totl }} ${{ stages.sh.outputs.batch_id }} ${{ stages.sh.outputs.rows }}"
            - id: fine
              echo: "${{ stages.calc.outputs.total }} ${{ stages.calc.outputs.row }} ${{ stages.sh.outputs.stdout }} ${{ stages.calc.outputs.nope | default('x') }}"
        b:
          needs: [a]
          stages:
            - id: x
              echo: "${{ jobs.a.stages.calc.outputs.tota }}"
    """)
    assert findings(folder, runtime) == [
        (17, "unknown-output", "'${{ stages.calc.outputs.totl }}': the outputs of stage 'calc' has no 'totl' "
         "(did you mean 'total'?) (available: row, total)"),
        (17, "unknown-output", "'${{ stages.sh.outputs.batch_id }}': the outputs of stage 'sh' has no "
         "'batch_id' (did you mean 'batch-id'?) (available: batch-id, return_code, rows, stderr, stdout)"),
        (24, "unknown-output", "'${{ jobs.a.stages.calc.outputs.tota }}': the outputs of stage 'calc' has "
         "no 'tota' (did you mean 'total'?) (available: row, total)"),
    ]  # fmt: skip


def test_what_cannot_be_known_is_not_reported(conf, runtime) -> None:
    folder = conf("""
    w:
      type: Workflow
      jobs:
        a:
          stages:
            - id: dynamic
              run: globals()["made"] = 1
            - id: star
              run: from os.path import *
            - id: child
              bash: python3 write_outputs.py
            - id: named
              bash: rw_output "$NAME" 1
            - id: greet
              uses: tasks/greet@local
              with: {name: x}
            - id: use
              echo: "${{ stages.dynamic.outputs.made }} ${{ stages.star.outputs.join }} ${{ stages.child.outputs.a }} ${{ stages.named.outputs.b }} ${{ stages.greet.outputs.greting }}"
    """)
    assert findings(folder, runtime) == []


def test_return_annotations_give_the_outputs_of_a_call(typed_registry, conf, runtime) -> None:
    text = """
    w:
      type: Workflow
      jobs:
        a:
          stages:
            - {{id: c, uses: out/count@v1}}
            - {{id: l, uses: out/load@v1}}
            - {{id: r, uses: out/report@v1}}
            - {{id: any, uses: out/anything@v1}}
            - id: use
              run: "v = [${{{{ stages.c.outputs.{c} }}}}, '${{{{ stages.l.outputs.{l} }}}}', ${{{{ stages.r.outputs.{r} }}}}, ${{{{ stages.any.outputs.x }}}}]"
    """
    folder = conf(text.format(c="row", l="batchid", r="row_count"))
    assert [(line, rule) for line, rule, _ in findings(folder, runtime)] == [(12, "unknown-output")] * 3
    messages = " | ".join(message for _, _, message in findings(folder, runtime))
    assert "did you mean 'rows'?" in messages and "did you mean 'batch_id'?" in messages
    assert "did you mean 'row-count'?" in messages
    # the names that validate are the names the run binds (a dataclass result included)
    folder = conf(text.format(c="rows", l="batch_id", r="row-count"))
    assert findings(folder, runtime) == []
    result = Workflow.from_conf("w", folder, runtime=runtime).execute()
    assert result.status is Status.SUCCESS, result.errors
    assert result.context["jobs"]["a"]["stages"]["use"]["outputs"]["v"] == [3, "b1", 5, 1]


def test_a_plugin_kind_declares_its_outputs_through_check_stage(tmp_path: Path) -> None:
    file = tmp_path / "rep.yml"
    file.write_text(TEMPLATE.format(times=2, key="number", outside="stages.r.outputs.round"))
    report = check_conf(file, plugin_runtime())
    assert [(f.rule, f.line) for f in report.findings] == [("unknown-output", 12)], report.text()
    assert "did you mean 'rounds'?" in report.findings[0].message
