"""``parallel:``: named branches of stages run at the same time (``max-workers`` at once)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pydantic import Field, field_validator

from runwright.engine.context import StageContext
from runwright.errors import RunCancelled, StageFailed
from runwright.hookspecs import hookimpl
from runwright.models.stage import (
    AnyStage,
    NestedScope,
    Stage,
    check_limit,
    check_unique_ids,
    render_limit,
)

MAX_WORKERS = 256


class ParallelStage(Stage):
    kind = "parallel"

    parallel: dict[str, list[AnyStage]] = Field(  # type: ignore[valid-type]
        min_length=1, description="Branch name -> stages run in order within the branch."
    )
    max_workers: int | str = Field(
        4, alias="max-workers", description="Branches at once: 1-256, or an expression giving one."
    )

    @field_validator("max_workers")
    @classmethod
    def _worker_limit(cls, value: int | str) -> int | str:
        return check_limit(value, "max-workers", MAX_WORKERS)

    @field_validator("parallel")
    @classmethod
    def _unique_ids(cls, value: dict[str, list[Stage]]) -> dict[str, list[Stage]]:
        for branch, stages in value.items():
            check_unique_ids(stages, f"branch '{branch}'")
        return value

    def nested_stages(self) -> list[list[Stage]]:
        return list(self.parallel.values())

    def run(self, ctx: StageContext) -> dict[str, Any]:
        def run_branch(branch: str) -> tuple[str, Any]:
            nested = ctx.run_stages(self.parallel[branch], {"branch": branch}, prefix=branch)
            return branch, nested

        limit = render_limit(self.max_workers, ctx.render, "max-workers", MAX_WORKERS)
        workers = min(limit, len(self.parallel))
        with ThreadPoolExecutor(workers, thread_name_prefix=f"runwright-{self.identity}") as pool:
            results = dict(pool.map(run_branch, list(self.parallel)))
        outputs = {"parallel": {b: n.record(branch=b) for b, n in results.items()}}
        failed = [b for b, n in results.items() if n.status == "FAILED"]
        if failed:
            first = results[failed[0]].errors[0]
            raise StageFailed(
                f"branch(es) {', '.join(failed)} failed: {first['message']}",
                error_name=first["name"],
                outputs=outputs,
            )
        if any(n.status == "CANCEL" for n in results.values()):
            raise RunCancelled(ctx.scope.reason or "cancelled")
        return outputs


@hookimpl
def register_stage_types(register: Callable[[type], None]) -> None:
    register(ParallelStage)


@hookimpl
def stage_scopes(stage: Stage) -> list[NestedScope] | None:
    if not isinstance(stage, ParallelStage):
        return None
    return [
        NestedScope(("parallel", branch), stages, {"branch": None})
        for branch, stages in stage.parallel.items()
    ]
