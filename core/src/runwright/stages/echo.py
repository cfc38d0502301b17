"""``echo:``: log a message, optionally wait; the empty stage of a template."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from pydantic import Field, field_validator

from runwright.engine.context import StageContext
from runwright.errors import RunCancelled
from runwright.hookspecs import hookimpl
from runwright.models.base import MAX_SECONDS
from runwright.models.stage import Stage
from runwright.templating.engine import EXPRESSION_START


class EchoStage(Stage):
    kind = "echo"

    echo: Any = Field(None, description="Message to log (templated).")
    sleep: Annotated[float, Field(ge=0, le=MAX_SECONDS)] | str = Field(
        0.0, description="Seconds to wait (cancellable)."
    )

    @field_validator("sleep")
    @classmethod
    def _seconds_or_expression(cls, value: Any) -> Any:
        if isinstance(value, str) and EXPRESSION_START not in value:
            seconds_to_wait(value)
        return value

    def static_outputs(self, runtime: Any) -> frozenset[str]:
        return frozenset()

    def run(self, ctx: StageContext) -> dict[str, Any]:
        if self.echo is not None:
            ctx.log(str(ctx.render(self.echo)), event="echo")
        seconds = seconds_to_wait(ctx.render(self.sleep)) if self.sleep else 0.0
        if seconds > 0 and ctx.cancel_event.wait(seconds):
            raise RunCancelled(ctx.scope.reason)
        return {}


def seconds_to_wait(value: Any) -> float:
    """A wait in seconds: a finite number from 0 to ``MAX_SECONDS`` (``nan``/``inf`` refused)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not 0 <= number <= MAX_SECONDS:
        raise ValueError(
            f"expected a number of seconds (0 to {MAX_SECONDS}) or a ${{{{ }}}} expression, got {value!r}"
        )
    return number


@hookimpl
def register_stage_types(register: Callable[[type], None]) -> None:
    register(EchoStage)
