"""``raise:``: fail on purpose with a message (and an error name ``catch``/``retry`` match)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import Field

from runwright.engine.context import StageContext
from runwright.errors import StageFailed
from runwright.hookspecs import hookimpl
from runwright.models.stage import Stage


class RaiseStage(Stage):
    kind = "raise"

    raise_: str = Field(alias="raise", description="The failure message (templated).")
    error: str = Field("RaisedError", description="The error name recorded for this failure.")

    def static_outputs(self, runtime: Any) -> frozenset[str]:
        return frozenset()

    def run(self, ctx: StageContext) -> dict[str, Any]:
        raise StageFailed(str(ctx.render(self.raise_)), error_name=self.error)


@hookimpl
def register_stage_types(register: Callable[[type], None]) -> None:
    register(RaiseStage)
