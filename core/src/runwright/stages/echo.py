"""``echo:``: log a message, optionally wait; the empty stage of a template."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from pydantic import Field

from runwright.engine.context import StageContext
from runwright.errors import RunCancelled
from runwright.hookspecs import hookimpl
from runwright.models.base import MAX_SECONDS
from runwright.models.stage import Stage


class EchoStage(Stage):
    kind = "echo"

    echo: Any = Field(None, description="Message to log (templated).")
    sleep: Annotated[float, Field(ge=0, le=MAX_SECONDS)] | str = Field(
        0.0, description="Seconds to wait (cancellable)."
    )

    def run(self, ctx: StageContext) -> dict[str, Any]:
        if self.echo is not None:
            ctx.log(str(ctx.render(self.echo)), event="echo")
        seconds = float(ctx.render(self.sleep)) if self.sleep else 0.0
        if seconds > 0 and ctx.cancel_event.wait(seconds):
            raise RunCancelled(ctx.scope.reason)
        return {}


@hookimpl
def register_stage_types(register: Callable[[type], None]) -> None:
    register(EchoStage)
