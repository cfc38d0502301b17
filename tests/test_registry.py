"""``uses:`` resolution and call functions: tags, argument checks, async, caching."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
from runwright import Status
from runwright.config import Settings
from runwright.errors import CallResolutionError
from runwright.plugins import get_plugin_manager
from runwright.registry import CallRegistry, parse_uses
from runwright.runtime import Runtime


@pytest.fixture
def registry_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A user's registry package on sys.path, named by RUNWRIGHT_REGISTRY."""
    package = tmp_path / "pkgs" / "my_registry"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "etl.py").write_text(
        textwrap.dedent("""
        import asyncio
        from typing import Literal
        from pydantic import BaseModel
        from runwright import tag

        CALLS = []

        class Target(BaseModel):
            bucket: str
            prefix: str = ""

        @tag("v1", alias="load-table")
        def load(table_name: str, rows: int = 10, mode: Literal["append", "replace"] = "append",
                 target: Target | None = None):
            CALLS.append(table_name)
            return {"table": table_name, "rows": rows, "mode": mode,
                    "bucket": target.bucket if target else None}

        @tag("v2", alias="load-table")
        def load_v2(table_name: str):
            return {"version": 2, "table": table_name}

        @tag("v1")
        async def wait_and_add(a: int, b: int):
            await asyncio.sleep(0.01)
            return {"sum": a + b}

        class Out(BaseModel):
            answer: int

        @tag("v1")
        def as_model() -> Out:
            return Out(answer=42)

        @tag("v1")
        def not_a_dict():
            return [1, 2]

        @tag("v1")
        def boom(reason: str):
            raise RuntimeError(reason)
    """)
    )
    monkeypatch.syspath_prepend(str(package.parent))
    monkeypatch.setenv("RUNWRIGHT_REGISTRY", "my_registry")
    yield "my_registry"
    for name in [m for m in sys.modules if m.startswith("my_registry")]:
        del sys.modules[name]


STAGE_WF = """
wf:
  type: Workflow
  params: {{table: {{type: str, default: sales}}}}
  jobs:
    j:
      stages:
        - id: call
          uses: {uses}
          with: {args}
"""


def run(workflow_from, uses: str, args: str):
    wf = workflow_from(STAGE_WF.format(uses=uses, args=args))
    return wf.execute()


def stage(result):
    return result.context["jobs"]["j"]["stages"]["call"]


def test_resolves_by_module_name_and_tag(registry_package, workflow_from) -> None:
    result = run(
        workflow_from,
        "etl/load-table@v1",
        "{table-name: '${{ params.table }}', rows: '7', target: {bucket: b1}}",
    )
    assert result.status is Status.SUCCESS, result.errors
    assert stage(result)["outputs"] == {
        "table": "sales",
        "rows": 7,
        "mode": "append",
        "bucket": "b1",
    }
    result = run(workflow_from, "etl/load-table@v2", "{table_name: x}")
    assert stage(result)["outputs"] == {"version": 2, "table": "x"}


def test_uses_itself_may_be_templated(registry_package, workflow_from) -> None:
    result = run(workflow_from, "'etl/load-table@${{ \"v\" ~ 2 }}'", "{table_name: x}")
    assert stage(result)["outputs"]["version"] == 2


def test_bad_arguments_are_clear(registry_package, workflow_from) -> None:
    from runwright.check import CheckFailed

    # literal mistakes stop the run before it starts (the same checks as `runwright validate`)
    with pytest.raises(CheckFailed) as caught:
        run(workflow_from, "etl/load-table@v1", "{table_name: t, mode: upsert, extra: 1}")
    message = str(caught.value)
    assert "Input should be 'append' or 'replace'" in message and "[with-type]" in message
    assert "'extra' is not a parameter of etl/load-table@v1" in message and "[with-unknown-key]" in message
    with pytest.raises(CheckFailed, match="requires 'table_name'"):
        run(workflow_from, "etl/load-table@v1", "{rows: 1}")
    # a value known only at run time is checked when the stage runs
    result = run(workflow_from, "etl/load-table@v1", "{table_name: t, mode: '${{ params.table }}'}")
    assert result.status is Status.FAILED
    assert stage(result)["errors"][0]["name"] == "CallArgumentError"
    message = stage(result)["errors"][0]["message"]
    assert "uses 'etl/load-table@v1': bad arguments" in message
    assert "mode: Input should be 'append' or 'replace'" in message


def test_unknown_tag_lists_available(registry_package, workflow_from) -> None:
    from runwright.check import CheckFailed

    with pytest.raises(CheckFailed) as caught:
        run(workflow_from, "etl/load-table@v9", "{}")
    message = str(caught.value)
    assert "no call function 'load-table' with tag 'v9' in module 'etl'" in message
    assert "etl/load-table@v1" in message and "etl/load-table@v2" in message


def test_unknown_module_lists_the_modules_that_exist(registry_package, runtime) -> None:
    with pytest.raises(CallResolutionError) as caught:
        runtime.resolve_call("etx/load-table@v1")
    message = str(caught.value)
    assert "no module 'etx'" in message
    # where MODULE was looked for, and what there is instead
    assert "my_registry.etx" in message
    modules = message.split("modules that exist: ", 1)[1].split("\n", 1)[0].split(", ")
    assert "etl" in modules and "etx" not in modules


def test_malformed_reference(registry_package, runtime) -> None:
    with pytest.raises(CallResolutionError, match="expected the form MODULE/NAME@TAG"):
        runtime.resolve_call("etl.load-table")
    assert parse_uses("a/b-c@v1") == ("a", "b-c", "v1")


def test_async_function_runs_on_engine_loop(registry_package, workflow_from) -> None:
    result = run(workflow_from, "etl/wait-and-add@v1", "{a: 2, b: 3}")
    assert stage(result)["outputs"] == {"sum": 5}


def test_model_return_becomes_outputs_and_other_returns_fail(registry_package, workflow_from) -> None:
    assert stage(run(workflow_from, "etl/as-model@v1", "{}"))["outputs"] == {"answer": 42}
    failed = run(workflow_from, "etl/not-a-dict@v1", "{}")
    assert failed.status is Status.FAILED
    assert "must return a dict, a dataclass or a pydantic model" in failed.errors[0]["message"]


def test_function_error_is_recorded(registry_package, workflow_from) -> None:
    result = run(workflow_from, "etl/boom@v1", "{reason: disk full}")
    assert stage(result)["status"] == "FAILED"
    assert stage(result)["errors"][0] | {} == {
        "job": "j",
        "stage": "call",
        "name": "RuntimeError",
        "message": "disk full",
    }


def test_registry_scanned_once(registry_package) -> None:
    settings = Settings.from_env()
    runtime = Runtime(get_plugin_manager(settings), settings)
    first = runtime.resolve_call("etl/load-table@v1")
    module = sys.modules["my_registry.etl"]
    del module.load  # a re-scan would not find it any more
    assert runtime.resolve_call("etl/load-table@v1") is first
    registry = CallRegistry.from_packages(["my_registry"])
    assert registry.resolve("etl", "load-table", "v2") is not None
    assert registry.resolve("etl", "load-table", "v2") is registry.resolve("etl", "load-table", "v2")


def test_duplicate_name_and_tag_in_a_module(tmp_path, monkeypatch) -> None:
    package = tmp_path / "dupreg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "m.py").write_text(
        "from runwright import tag\n@tag('x', alias='f')\ndef a(): pass\n@tag('x', alias='f')\ndef b(): pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(CallResolutionError, match="'f@x' is defined twice"):
        CallRegistry.from_modules({"m": "dupreg.m"}).resolve("m", "f", "x")
