"""``foreach:``: run ``stages`` once per item of a list (``concurrent`` at once).

Inside, ``${{ item }}`` is the item and ``${{ loop.index }}`` its position (from 0);
``loop.first``, ``loop.last`` and ``loop.length`` are there too. Outputs are kept per item.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pydantic import Field, field_validator

from runwright.config import Limits
from runwright.engine.context import StageContext
from runwright.errors import RunCancelled, StageFailed
from runwright.hookspecs import hookimpl
from runwright.models.stage import AnyStage, NestedScope, Stage, check_unique_ids

LOOP_KEYS = ("index", "first", "last", "length")
"""What ``loop`` holds inside a foreach."""


class ForEachStage(Stage):
    kind = "foreach"

    foreach: list[Any] | str = Field(description="A list, or an expression giving a list.")
    stages: list[AnyStage] = Field(  # type: ignore[valid-type]
        min_length=1, description="Stages run for each item (${{ item }})."
    )
    concurrent: int = Field(1, ge=1, le=256, description="Items run at the same time.")
    fail_fast: bool = Field(False, alias="fail-fast", description="Cancel the rest on a failure.")

    @field_validator("foreach")
    @classmethod
    def _within_the_cap(cls, value: list[Any] | str) -> list[Any] | str:
        limit = Limits.from_env().max_strategies
        if isinstance(value, list) and len(value) > limit:
            raise ValueError(f"{len(value)} items, more than {limit} (RUNWRIGHT_MAX_STRATEGIES)")
        return value

    @field_validator("stages")
    @classmethod
    def _unique_ids(cls, value: list[Stage]) -> list[Stage]:
        check_unique_ids(value, "this foreach")
        return value

    def nested_stages(self) -> list[list[Stage]]:
        return [self.stages]  # type: ignore[list-item]

    def run(self, ctx: StageContext) -> dict[str, Any]:
        items = ctx.render(self.foreach)
        if isinstance(items, tuple | set):
            items = list(items)
        if not isinstance(items, list):
            raise StageFailed(
                f"foreach expects a list, got {type(items).__name__}", error_name="ForEachError"
            )
        length = len(items)
        limit = Limits.from_env().max_strategies  # the same cap as a matrix: fan-out from data is bounded
        if length > limit:
            raise StageFailed(
                f"foreach has {length} items, more than {limit} (RUNWRIGHT_MAX_STRATEGIES)",
                error_name="ForEachError",
            )
        group = ctx.scope.child()

        def run_item(index: int) -> tuple[int, Any]:
            if group.cancelled:
                return index, None
            loop = {
                "index": index,
                "first": index == 0,
                "last": index == length - 1,
                "length": length,
            }
            nested = ctx.run_stages(
                self.stages,  # type: ignore[arg-type]
                {"item": items[index], "loop": loop},
                scope=group.child(),
                prefix=str(index),
            )
            if nested.status == "FAILED" and self.fail_fast:
                group.cancel(f"fail-fast: item {index} failed")
            return index, nested

        if self.concurrent <= 1:
            results = [run_item(i) for i in range(length)]
        else:
            with ThreadPoolExecutor(min(self.concurrent, max(1, length))) as pool:
                results = list(pool.map(run_item, range(length)))
        per_item: dict[str, Any] = {}
        for index, nested in results:
            if nested is None:
                per_item[str(index)] = {"status": "CANCEL", "item": items[index], "stages": {}}
            else:
                per_item[str(index)] = nested.record(item=items[index])
        outputs = {"items": items, "foreach": per_item}
        failed = [k for k, v in per_item.items() if v["status"] == "FAILED"]
        if failed:
            first = per_item[failed[0]]["errors"][0]
            raise StageFailed(
                f"item(s) {', '.join(failed)} failed: {first['message']}",
                error_name=first["name"],
                outputs=outputs,
            )
        if ctx.scope.cancelled:
            raise RunCancelled(ctx.scope.reason)
        return outputs


@hookimpl
def register_stage_types(register: Callable[[type], None]) -> None:
    register(ForEachStage)


@hookimpl
def stage_scopes(stage: Stage) -> list[NestedScope] | None:
    if not isinstance(stage, ForEachStage):
        return None
    return [NestedScope(("stages",), stage.stages, {"item": None, "loop": LOOP_KEYS})]  # type: ignore[arg-type]
