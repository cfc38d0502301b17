"""``trigger:``: run another workflow by name with ``params``; its result nests in the outputs.

A chain that comes back to a workflow already running in it (A -> B -> A) is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import Field

from runwright.engine.context import StageContext
from runwright.errors import RunCancelled, StageFailed
from runwright.hookspecs import hookimpl
from runwright.models.stage import Stage


class TriggerStage(Stage):
    kind = "trigger"

    trigger: str = Field(description="The workflow's name (templated).")
    params: dict[str, Any] = Field(default_factory=dict, description="Its params (templated).")

    def run(self, ctx: StageContext) -> dict[str, Any]:
        from runwright.engine.result import Status
        from runwright.engine.runner import run_workflow
        from runwright.models.release import child_release
        from runwright.models.workflow import Workflow

        name = str(ctx.render(self.trigger))
        chain = ctx.run.trigger_chain
        if name in chain:
            cycle = " -> ".join([*chain, name])
            raise StageFailed(f"trigger would recurse: {cycle}", error_name="TriggerRecursion")
        workflow = Workflow.from_conf(name, ctx.run.conf_path, runtime=ctx.runtime)
        result = run_workflow(
            workflow,
            ctx.render(self.params),
            parent_run_id=ctx.run.run_id,
            scope=ctx.scope,
            trigger_chain=chain,
            release=child_release(ctx.run.release, "trigger") if ctx.run.release else None,
            traceparent=ctx.traceparent(),
        )
        outputs = {
            "run_id": result.run_id,
            "workflow": name,
            "status": result.status.value,
            "params": result.context["params"],
            "jobs": result.context["jobs"],
        }
        if result.status is Status.FAILED:
            first = result.errors[0] if result.errors else {"name": "TriggerFailed", "message": ""}
            raise StageFailed(
                f"triggered workflow '{name}' failed: {first['message']}",
                error_name=first["name"],
                outputs=outputs,
            )
        if result.status is Status.CANCEL:
            raise RunCancelled(ctx.scope.reason or f"triggered workflow '{name}' was cancelled")
        return outputs


@hookimpl
def register_stage_types(register: Callable[[type], None]) -> None:
    register(TriggerStage)
