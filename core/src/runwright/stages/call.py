"""``uses:``: call a registered ``@tag`` function with ``with:`` checked against its hints."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Field

from runwright.engine.context import StageContext
from runwright.engine.stopping import call_stoppable, cancelled_or_late, stopped_error
from runwright.errors import RunCancelled, StageFailed
from runwright.hookspecs import hookimpl
from runwright.models.stage import Stage
from runwright.registry import collect_secret_values


class CallStage(Stage):
    kind = "uses"

    uses: str = Field(description="MODULE/NAME@TAG of a registered call function (templated).")
    with_: dict[str, Any] = Field(default_factory=dict, alias="with", description="Arguments.")

    def static_outputs(self, runtime: Any) -> frozenset[str] | None:
        """From the function's return annotation (TypedDict, dataclass, pydantic model)."""
        if "${{" in self.uses:
            return None
        try:
            call = runtime.resolve_call(self.uses)
        except Exception:  # reported by the uses-unknown rule
            return None
        return call.output_names()

    def run(self, ctx: StageContext) -> dict[str, Any]:
        reference = str(ctx.render(self.uses))
        call = ctx.runtime.resolve_call(reference)
        arguments = call.validate_arguments(ctx.render(self.with_))
        for secret in collect_secret_values(arguments):
            ctx.run.secrets.add(secret)
        reserved = call.reserved_parameters()
        if "trace" in reserved:
            arguments["trace"] = ctx.logger()
        if "cancel_event" in reserved:
            arguments["cancel_event"] = ctx.cancel_event
        if call.is_async:
            try:
                result = ctx.runtime.run_coroutine(call.func(**arguments), ctx.remaining(), ctx.cancel_event)
            except RunCancelled:
                cancelled_or_late(ctx)
                raise stopped_error(ctx, self.identity) from None
        else:
            result = call_stoppable(lambda: call.func(**arguments), ctx, self.identity)
        if result is None:
            return {}
        if isinstance(result, BaseModel):
            return result.model_dump(mode="json", by_alias=True)
        if dataclasses.is_dataclass(result) and not isinstance(result, type):
            return dataclasses.asdict(result)
        if not isinstance(result, dict):
            raise StageFailed(
                f"call '{call.reference}' returned {type(result).__name__}; "
                "a call function must return a dict, a dataclass or a pydantic model",
                error_name="CallReturnError",
            )
        return result


@hookimpl
def register_stage_types(register: Callable[[type], None]) -> None:
    register(CallStage)
