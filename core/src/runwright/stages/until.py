"""``until:``: repeat ``stages`` until the expression is true, at most ``max-loop`` times.

The condition is checked after each pass and sees that pass's ``stages`` outputs, ``loop``
(index from 0) and ``item``; a stage output named ``item`` becomes the next pass's item.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import Field, model_validator

from runwright.engine.context import StageContext, nested_stages_scope
from runwright.errors import RunCancelled, StageFailed
from runwright.hookspecs import hookimpl
from runwright.models.stage import AnyStage, NestedScope, Stage, check_unique_ids

LOOP_KEYS = ("index", "first")
"""What ``loop`` holds inside an until loop."""


class UntilStage(Stage):
    kind = "until"

    until: str = Field(description="Expression; the loop stops when it is true.")
    stages: list[AnyStage] = Field(  # type: ignore[valid-type]
        min_length=1, description="Stages run each pass (${{ item }}, ${{ loop }})."
    )
    item: Any = Field(0, description="The first pass's item.")
    max_loop: int = Field(
        10, alias="max-loop", ge=1, le=10_000, description="Passes at most; the stage fails after them."
    )

    @model_validator(mode="after")
    def _unique_ids(self) -> UntilStage:
        check_unique_ids(self.stages, "this until loop")  # type: ignore[arg-type]
        return self

    def nested_stages(self) -> list[list[Stage]]:
        return [self.stages]  # type: ignore[list-item]

    def run(self, ctx: StageContext) -> dict[str, Any]:
        item = ctx.render(self.item)
        passes: dict[str, Any] = {}
        for index in range(self.max_loop):
            loop = {"index": index, "first": index == 0}
            nested = ctx.run_stages(self.stages, {"item": item, "loop": loop}, prefix=str(index))  # type: ignore[arg-type]
            passes[str(index)] = nested.record(item=item)
            outputs = {"until": passes, "loops": index + 1}
            if nested.status == "FAILED":
                first = nested.errors[0]
                raise StageFailed(first["message"], error_name=first["name"], outputs=outputs)
            if nested.status == "CANCEL":
                raise RunCancelled(ctx.scope.reason)
            for record in nested.stages.values():
                if "item" in (record.get("outputs") or {}):
                    item = record["outputs"]["item"]
            stages = nested_stages_scope(nested.stages, ctx.variables.get("stages"))
            variables = dict(ctx.variables, stages=stages, loop=loop, item=item)
            if ctx.runtime.expressions.evaluate_condition(self.until, variables):
                return outputs
        raise StageFailed(
            f"'{self.until}' was still false after {self.max_loop} loops",
            error_name="MaxLoopExceeded",
            outputs={"until": passes, "loops": self.max_loop},
        )


@hookimpl
def register_stage_types(register: Callable[[type], None]) -> None:
    register(UntilStage)


@hookimpl
def stage_scopes(stage: Stage) -> list[NestedScope] | None:
    if not isinstance(stage, UntilStage):
        return None
    binds = {"item": None, "loop": LOOP_KEYS}
    return [NestedScope(("stages",), stage.stages, binds, fields=("until",))]  # type: ignore[arg-type]
