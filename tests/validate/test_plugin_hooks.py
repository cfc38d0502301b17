"""Plugin stage kinds take part in the checks: the names they bind, and checks of their own."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import Field
from runwright import Status, Workflow
from runwright.check import check_conf
from runwright.config import Settings
from runwright.hookspecs import hookimpl
from runwright.models.stage import AnyStage, NestedScope, Stage
from runwright.plugins import get_plugin_manager
from runwright.runtime import Runtime

ROUND_KEYS = ("number", "last")


class RepeatStage(Stage):
    kind = "repeat"

    repeat: int = Field(ge=1)
    stages: list[AnyStage] = Field(min_length=1)  # type: ignore[valid-type]

    def nested_stages(self) -> list[list[Stage]]:
        return [self.stages]  # type: ignore[list-item]

    def run(self, ctx: Any) -> dict[str, Any]:
        rounds = {}
        for number in range(self.repeat):
            record = {"number": number, "last": number == self.repeat - 1}
            rounds[str(number)] = ctx.run_stages(self.stages, {"round": record}, prefix=str(number)).record()
        return {"rounds": rounds}


class RepeatPlugin:
    @hookimpl
    def register_stage_types(self, register: Callable[[type], None]) -> None:
        register(RepeatStage)

    @hookimpl
    def stage_scopes(self, stage: Stage) -> list[NestedScope] | None:
        if not isinstance(stage, RepeatStage):
            return None
        return [NestedScope(("stages",), stage.stages, {"round": ROUND_KEYS})]  # type: ignore[arg-type]

    @hookimpl
    def check_stage(self, stage: Stage, checker: Any) -> None:
        if isinstance(stage, RepeatStage):
            checker.declare_outputs(["rounds"])
        if isinstance(stage, RepeatStage) and stage.repeat > 10:
            checker.report("repeat-too-often", f"repeat {stage.repeat} times is more than 10", "repeat")


TEMPLATE = """\
rep:
  type: Workflow
  jobs:
    j:
      stages:
        - id: r
          repeat: {times}
          stages:
            - id: inner
              run: "n = ${{{{ round.{key} }}}}"
        - id: after
          echo: "${{{{ {outside} }}}}"
"""


def plugin_runtime() -> Runtime:
    settings = Settings.from_env()
    return Runtime(get_plugin_manager(settings, extra_plugins=(RepeatPlugin(),)), settings)


def test_a_plugin_kind_declares_the_names_it_binds(tmp_path) -> None:
    runtime = plugin_runtime()
    file = tmp_path / "rep.yml"
    file.write_text(TEMPLATE.format(times=2, key="nmber", outside="round.number"))
    findings = sorted((f.rule, f.line, f.col) for f in check_conf(file, runtime).findings)
    assert findings == [("unknown-key", 10, 25), ("unknown-name", 12, 18)]
    file.write_text(TEMPLATE.format(times=2, key="number", outside="stages.r.outputs"))
    assert check_conf(file, runtime).findings == []
    # the name that validates is the name the run sets
    result = Workflow.from_conf("rep", file, runtime=runtime).execute()
    assert result.status is Status.SUCCESS, result.errors
    rounds = result.context["jobs"]["j"]["stages"]["r"]["outputs"]["rounds"]
    assert [r["stages"]["inner"]["outputs"]["n"] for r in rounds.values()] == [0, 1]


def test_a_plugin_kind_adds_its_own_checks(tmp_path) -> None:
    file = tmp_path / "rep.yml"
    file.write_text(TEMPLATE.format(times=50, key="number", outside="1"))
    report = check_conf(file, plugin_runtime())
    assert [(f.rule, f.line, f.col, f.severity) for f in report.findings] == [
        ("repeat-too-often", 7, 19, "error")
    ]
