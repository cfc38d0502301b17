"""A call function's ``_``-prefixed parameter (``_exec``) takes ``exec:`` or ``_exec:``."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
from runwright import Status


@pytest.fixture
def registry_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    package = tmp_path / "pkgs" / "underscore_registry"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "db.py").write_text(
        textwrap.dedent("""
        from runwright import tag

        @tag("v1")
        def query(_exec: str, _type: str = "sql", limit: int = 1):
            return {"exec": _exec, "type": _type, "limit": limit}
        """)
    )
    monkeypatch.syspath_prepend(str(package.parent))
    monkeypatch.setenv("RUNWRIGHT_REGISTRY", "underscore_registry")
    yield "underscore_registry"
    for name in [m for m in sys.modules if m.startswith("underscore_registry")]:
        del sys.modules[name]


def call(workflow_from, arguments: str) -> dict:
    result = workflow_from(f"""
    wf:
      type: Workflow
      jobs:
        j:
          stages:
            - {{id: call, uses: db/query@v1, with: {arguments}}}
    """).execute()
    return result.context["jobs"]["j"]["stages"]["call"]


@pytest.mark.parametrize(
    "arguments",
    ["{exec: 'select 1', type: dml, limit: 3}", "{_exec: 'select 1', _type: dml, limit: 3}"],
)
def test_underscore_parameter_takes_plain_or_prefixed_key(registry_package, workflow_from, arguments) -> None:
    record = call(workflow_from, arguments)
    assert record["status"] == Status.SUCCESS.value, record.get("errors")
    assert record["outputs"] == {"exec": "select 1", "type": "dml", "limit": 3}


def test_underscore_parameter_errors_name_the_key(registry_package, workflow_from) -> None:
    """The checker refuses the run before it starts, naming the key as the user writes it."""
    from runwright.check import CheckFailed

    with pytest.raises(CheckFailed, match=r"requires 'exec' in with:"):
        call(workflow_from, "{limit: 3}")
    with pytest.raises(CheckFailed, match=r"'exec' and '_exec' both set the parameter 'exec'"):
        call(workflow_from, "{exec: a, _exec: b}")


def test_underscore_parameter_errors_at_run_time_name_the_key(registry_package, runtime) -> None:
    """Called without the checker (an API caller), pydantic's error still names the key."""
    from runwright.errors import CallArgumentError

    function = runtime.resolve_call("db/query@v1")
    with pytest.raises(CallArgumentError, match="exec: Field required"):
        function.validate_arguments({"limit": 3})
    with pytest.raises(CallArgumentError, match="_exec"):
        function.validate_arguments({"exec": "a", "_exec": "b"})
