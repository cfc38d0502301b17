"""``case:``: render a value and run the stages of the first ``match`` entry equal to it.

``case: _`` (or an entry written ``else: [stages]``) is the default branch. With no match and
no default the stage fails, or is skipped with ``skip-not-match: true``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import Field, model_validator

from runwright.engine.context import StageContext
from runwright.errors import RunCancelled, StageFailed, StageSkipped
from runwright.hookspecs import hookimpl
from runwright.models.base import TemplateModel
from runwright.models.stage import AnyStage, NestedScope, Stage, check_unique_ids

DEFAULT_CASE = "_"


class CaseBranch(TemplateModel):
    case: Any = Field(description="The value to match, or _ for the default.")
    stages: list[AnyStage] = Field(  # type: ignore[valid-type]
        min_length=1, description="Stages run when this branch matches."
    )

    @model_validator(mode="before")
    @classmethod
    def _else_form(cls, value: Any) -> Any:
        """``{else: [stages]}`` is the default branch ``{case: _, stages: [...]}``."""
        if isinstance(value, dict) and "else" in value:
            if set(value) != {"else"}:
                raise ValueError("an 'else:' entry holds only its stages (write 'else: [stages]')")
            return {"case": DEFAULT_CASE, "stages": value["else"]}
        return value


class CaseStage(Stage):
    kind = "case"

    case: Any = Field(description="The value (usually an expression) to match.")
    match: list[CaseBranch] = Field(min_length=1, description="Branches; the first equal case runs.")
    skip_not_match: bool = Field(
        False, alias="skip-not-match", description="SKIP instead of failing when no branch matches."
    )

    @model_validator(mode="after")
    def _unique_ids(self) -> CaseStage:
        defaults = [branch for branch in self.match if branch.case == DEFAULT_CASE]
        if len(defaults) > 1:
            raise ValueError("a case stage has one default branch ('else:' or 'case: _'), found several")
        for branch in self.match:
            check_unique_ids(branch.stages, f"case '{branch.case}'")  # type: ignore[arg-type]
        return self

    def nested_stages(self) -> list[list[Stage]]:
        return [branch.stages for branch in self.match]  # type: ignore[misc]

    def run(self, ctx: StageContext) -> dict[str, Any]:
        value = ctx.render(self.case)
        chosen = None
        for branch in self.match:
            expected = ctx.render(branch.case)
            if expected == DEFAULT_CASE:
                continue
            if expected == value or str(expected) == str(value):
                chosen = branch
                break
        if chosen is None:
            chosen = next((b for b in self.match if b.case == DEFAULT_CASE), None)
        if chosen is None:
            options = ", ".join(repr(b.case) for b in self.match)
            message = f"no match for {value!r} (cases: {options})"
            if self.skip_not_match:
                raise StageSkipped(message)
            raise StageFailed(message, error_name="CaseNotMatched")
        nested = ctx.run_stages(chosen.stages, {"case": value}, prefix=str(chosen.case))  # type: ignore[arg-type]
        outputs = {"case": value, "matched": chosen.case, **nested.record()}
        if nested.status == "FAILED":
            first = nested.errors[0]
            raise StageFailed(first["message"], error_name=first["name"], outputs=outputs)
        if nested.status == "CANCEL":
            raise RunCancelled(ctx.scope.reason)
        return outputs


@hookimpl
def register_stage_types(register: Callable[[type], None]) -> None:
    register(CaseStage)


@hookimpl
def stage_scopes(stage: Stage) -> list[NestedScope] | None:
    if not isinstance(stage, CaseStage):
        return None
    return [
        NestedScope(("match", index, "stages"), branch.stages, {"case": None})  # type: ignore[arg-type]
        for index, branch in enumerate(stage.match)
    ]
