"""Deeply nested expressions (a hundred parentheses, a hundred nested lists, long operator
chains) are a clear error naming the file and the setting in ``validate``, ``run`` and the
scheduler, never a ``RecursionError`` traceback; and the scheduler keeps releasing the healthy
workflow beside such a template."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pluggy
import pytest
from click.testing import CliRunner
from runwright.audit import make_audit_backend
from runwright.cli import templates  # noqa: F401 - registers `validate` on the app
from runwright.cli.app import app
from runwright.config import Settings
from runwright.errors import ExpressionError
from runwright.plugins import get_plugin_manager
from runwright.runtime import Runtime
from runwright.schedule.clock import SimulatedClock
from runwright.schedule.scheduler import Scheduler

from tests.conftest import run_cli
from tests.test_bounds_loader import HEALTHY

#: name -> expression text; each nests far deeper than any template needs.
DEEP: dict[str, str] = {
    "parentheses": "(" * 100 + "1" + ")" * 100,
    "lists": "[" * 100 + "]" * 100,
    "dicts": "{'a': " * 100 + "1" + "}" * 100,
    "calls": "range(" * 100 + "1" + ")" * 100,
    "not-chain": "not " * 400 + "true",
    "minus-chain": "- " * 400 + "1",
    "plus-chain": " + ".join(["1"] * 1500),
    "filter-chain": "1" + " | string" * 400,
    "attribute-chain": "params" + ".b" * 400,
    "conditional-chain": "1 if true else " * 400 + "1",
}

#: the nesting limit speaks of brackets; the other shapes are refused by what they cost
BRACKETED = {"parentheses", "lists", "dicts", "calls"}


def deep_template(expression: str, where: str = "echo", name: str = "deep") -> str:
    escaped = expression.replace("'", "''")
    if where == "if":
        stage = f"{{id: s, echo: hi, if: '{escaped}'}}"
    else:
        stage = f"{{id: s, echo: '${{{{ {escaped} }}}}'}}"
    return (
        f'{name}:\n  type: Workflow\n  on: [{{cronjob: "* * * * *"}}]\n'
        f"  jobs:\n    j:\n      stages:\n        - {stage}\n"
    )


@pytest.mark.parametrize("where", ["echo", "if"])
@pytest.mark.parametrize("shape", sorted(DEEP))
def test_validate_refuses_a_deep_expression_clearly(tmp_path: Path, shape: str, where: str) -> None:
    file = tmp_path / f"{shape}.yml"
    file.write_text(deep_template(DEEP[shape], where))
    result = CliRunner().invoke(app, ["validate", str(file)])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "RecursionError" not in result.output
    assert f"{shape}.yml" in result.output and "'deep'" in result.output
    if shape in BRACKETED:
        assert "nested deeper than 32 brackets (RUNWRIGHT_MAX_EXPRESSION_DEPTH)" in result.output


def test_the_small_file_of_nested_lists_from_the_report(tmp_path: Path) -> None:
    """A file of about 300 bytes: 100 nested lists in one expression."""
    file = tmp_path / "lists.yml"
    file.write_text(deep_template(DEEP["lists"]))
    assert len(file.read_bytes()) < 320
    for command in (["validate", str(file)], ["run", "deep", "--conf", str(tmp_path)]):
        result = run_cli(*command, timeout=60)
        shown = result.stdout + result.stderr
        assert result.returncode == 2, shown
        assert "Traceback" not in shown and "RecursionError" not in shown
        assert "lists.yml" in shown and "nested deeper than 32 brackets" in shown


@pytest.mark.parametrize("shape", sorted(DEEP))
def test_rendering_a_deep_expression_is_an_expression_error(runtime: Runtime, shape: str) -> None:
    """The engine itself (a value rendered at run time, a condition) refuses it too."""
    with pytest.raises(ExpressionError):
        runtime.expressions.render("${{ " + DEEP[shape] + " }}", {"params": {}})
    with pytest.raises(ExpressionError):
        runtime.expressions.evaluate_condition(DEEP[shape], {"params": {}})


NESTED_LISTS_30: list = []
for _ in range(29):
    NESTED_LISTS_30 = [NESTED_LISTS_30]


ORDINARY: list[tuple[str, object]] = [
    ("(" * 30 + "params.x" + ")" * 30, 2),
    ("[" * 30 + "]" * 30, NESTED_LISTS_30),
    (" + ".join(["params.x"] * 90), 180),
    ("params.x == 1 or " * 40 + "params.x == 2", True),
    (" ~ ".join(["'a'"] * 1500), "a" * 1500),  # jinja2 keeps a concatenation flat
]


@pytest.mark.parametrize(("text", "expected"), ORDINARY)
def test_ordinary_nesting_still_works(runtime: Runtime, text: str, expected: object) -> None:
    assert runtime.expressions.render("${{ " + text + " }}", {"params": {"x": 2}}) == expected


def test_ordinary_nesting_still_validates(tmp_path: Path) -> None:
    stages = "".join(
        f"        - {{id: s{n}, echo: '${{{{ {quoted} }}}}'}}\n"
        for n, quoted in enumerate(text.replace("'", "''") for text, _ in ORDINARY)
    )
    file = tmp_path / "ordinary.yml"
    file.write_text(
        f"ordinary:\n  type: Workflow\n  params: {{x: int}}\n  jobs:\n    j:\n      stages:\n{stages}"
    )
    result = CliRunner().invoke(app, ["validate", str(file)])
    assert result.exit_code == 0, result.output


def test_the_depth_limit_is_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    def fresh() -> Runtime:
        return Runtime(
            get_plugin_manager(Settings.from_env(), stage_kinds_on_demand=True), Settings.from_env()
        )

    text = "${{ " + "(" * 10 + "1" + ")" * 10 + " }}"
    assert fresh().expressions.render(text, {}) == 1
    monkeypatch.setenv("RUNWRIGHT_MAX_EXPRESSION_DEPTH", "5")
    with pytest.raises(
        ExpressionError, match=r"nested deeper than 5 brackets \(RUNWRIGHT_MAX_EXPRESSION_DEPTH\)"
    ):
        fresh().expressions.render(text, {})


@pytest.mark.parametrize("shape", ["parentheses", "lists", "plus-chain", "attribute-chain"])
def test_scheduler_releases_the_healthy_workflow_beside_a_deep_template(tmp_path: Path, shape: str) -> None:
    folder = tmp_path / "conf"
    folder.mkdir()
    (folder / "deep.yml").write_text(deep_template(DEEP[shape]))
    (folder / "healthy.yml").write_text(HEALTHY)
    start = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(seconds=30)
    outcomes = Scheduler(folder, clock=SimulatedClock(start)).run(until=start + timedelta(minutes=2))
    assert [o.status for o in outcomes if o.workflow == "healthy"] == ["SUCCESS", "SUCCESS"]
    assert len(make_audit_backend().list(workflow="healthy")) == 2
    # the deep template's ticks are not skipped silently: each is recorded FAILED with its error
    deep = make_audit_backend().list(workflow="deep")
    assert [record.status for record in deep] == ["FAILED", "FAILED"]


class BreaksOnBuild:
    """A plugin stage kind whose validation fails with an unexpected exception (a bug in a
    plugin, or a limit nobody foresaw): the template is broken, never the scheduler."""

    @pluggy.HookimplMarker("runwright")
    def register_stage_types(self, register):  # noqa: ANN001 - a hook implementation
        from pydantic import model_validator
        from runwright.models.stage import Stage

        class Fragile(Stage):
            kind = "fragile"
            fragile: str

            @model_validator(mode="after")
            def _explode(self) -> Fragile:
                raise RuntimeError("the plugin fell over")

        register(Fragile)


def test_an_unexpected_error_in_one_template_never_stops_the_scheduler(tmp_path: Path) -> None:
    folder = tmp_path / "conf"
    folder.mkdir()
    (folder / "fragile.yml").write_text(
        'fragile:\n  type: Workflow\n  on: [{cronjob: "* * * * *"}]\n'
        "  jobs:\n    j: {stages: [{id: s, fragile: x}]}\n"
    )
    (folder / "healthy.yml").write_text(HEALTHY)
    settings = Settings.from_env()
    runtime = Runtime(get_plugin_manager(settings, extra_plugins=(BreaksOnBuild(),)), settings)
    start = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(seconds=30)
    scheduler = Scheduler(folder, clock=SimulatedClock(start), runtime=runtime)
    outcomes = scheduler.run(until=start + timedelta(minutes=2))
    assert [o.status for o in outcomes if o.workflow == "healthy"] == ["SUCCESS", "SUCCESS"]
    failed = make_audit_backend().list(workflow="fragile")
    assert [record.status for record in failed] == ["FAILED", "FAILED"]
    assert "the plugin fell over" in str(failed[0].errors)


def test_validate_names_a_template_whose_build_raises_an_unexpected_exception(tmp_path: Path) -> None:
    from runwright.check import check_conf

    folder = tmp_path / "conf"
    folder.mkdir()
    (folder / "fragile.yml").write_text(
        "fragile:\n  type: Workflow\n  jobs:\n    j: {stages: [{id: s, fragile: x}]}\n"
    )
    (folder / "healthy.yml").write_text(HEALTHY)
    settings = Settings.from_env()
    runtime = Runtime(get_plugin_manager(settings, extra_plugins=(BreaksOnBuild(),)), settings)
    report = check_conf(folder, runtime)
    assert report.templates == 2
    assert [(Path(f.file).name, f.rule) for f in report.errors] == [("fragile.yml", "template")]
    assert "RuntimeError: the plugin fell over" in report.errors[0].message
