"""A job: stages run in order, after the jobs it ``needs``."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from pydantic import Field, ValidationInfo, field_validator, model_validator

from runwright.config import Limits
from runwright.errors import ExpressionError, RunwrightError
from runwright.models.base import MAX_MINUTES, TemplateModel
from runwright.models.concurrency import MAX_LIMIT, Concurrency
from runwright.models.runs_on import RunsOn, check_installed
from runwright.models.stage import AnyStage, Stage, check_limit, check_unique_ids, render_limit

if TYPE_CHECKING:
    from runwright.templating.engine import ExpressionEngine


class TriggerRule(StrEnum):
    ALL_SUCCESS = "all_success"
    ALL_FAILED = "all_failed"
    ALL_DONE = "all_done"
    ONE_SUCCESS = "one_success"
    ONE_FAILED = "one_failed"
    NONE_FAILED = "none_failed"
    NONE_SKIPPED = "none_skipped"


class MatrixDataError(RunwrightError):
    """A matrix axis written as an expression did not give a list when the job started."""


class Strategy(TemplateModel):
    """A matrix: the cartesian product of ``matrix``, minus ``exclude``, plus ``include``.

    ``include``/``exclude`` may be written inside ``matrix:`` (GitHub Actions) or beside it (the
    peer's form); they are never axes. Both places at once is an error.
    """

    matrix: dict[str, list[Any] | str] = Field(
        default_factory=dict,
        description="Axes: name -> values, or one ${{ }} expression giving the list when the job "
        "starts (an array param, a needed job's output). 'include'/'exclude' here mean what they "
        "mean beside it.",
    )
    include: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Combinations to add, or values to add to the combinations they do not contradict.",
    )
    exclude: list[dict[str, Any]] = Field(
        default_factory=list, description="Combinations to remove (a partial one removes every match)."
    )
    max_parallel: int | str = Field(
        4, alias="max-parallel", description="Strategies at once: a number >= 1 or an expression giving one."
    )
    fail_fast: bool = Field(
        False, alias="fail-fast", description="Cancel this job's other strategies when one fails."
    )

    @model_validator(mode="before")
    @classmethod
    def _github_form(cls, data: Any) -> Any:
        """``matrix: {os: [...], include: [...], exclude: [...]}`` as GitHub Actions means it."""
        if not isinstance(data, dict) or not isinstance(data.get("matrix"), dict):
            return data
        matrix = dict(data["matrix"])
        moved = {key: matrix.pop(key) for key in ("include", "exclude") if key in matrix}
        if not moved:
            return data
        for key in moved:
            if key in data:
                raise ValueError(
                    f"'{key}' is given both inside 'matrix:' and beside it; write it in one place "
                    f"(inside, as GitHub Actions does, or beside 'matrix:')"
                )
        return {**data, "matrix": matrix, **moved}

    @field_validator("matrix")
    @classmethod
    def _data_axes(cls, matrix: dict[str, list[Any] | str]) -> dict[str, list[Any] | str]:
        for key, values in matrix.items():
            text = values.strip() if isinstance(values, str) else None
            if text is not None and not (
                text.startswith("${{") and text.endswith("}}") and text.count("${{") == 1
            ):
                raise ValueError(
                    f"matrix axis '{key}' must be a list or one ${{{{ }}}} expression giving a list "
                    f"(an array param, a needed job's output), got {values!r}"
                )
        return matrix

    def data_axes(self) -> dict[str, str]:
        """Axes whose values come from data when the job starts (``${{ params.regions }}``)."""
        return {key: values for key, values in self.matrix.items() if isinstance(values, str)}

    def axes_for(self, render: Callable[[Any], Any]) -> dict[str, list[Any]]:
        """Every axis as a list, the data axes rendered now (``render``: the expression engine
        with the job's names); a value that is not a list is an error naming the axis."""
        axes: dict[str, list[Any]] = {}
        for key, values in self.matrix.items():
            if isinstance(values, str):
                rendered = render(values)
                if isinstance(rendered, tuple):
                    rendered = list(rendered)
                if not isinstance(rendered, list):
                    raise MatrixDataError(
                        f"matrix axis '{key}': {values.strip()} gave {type(rendered).__name__} "
                        f"{str(rendered)[:80]!r}, expected a list"
                    )
                if not rendered:
                    raise MatrixDataError(f"matrix axis '{key}': {values.strip()} gave an empty list")
                values = rendered
            axes[key] = values
        self.check_size(axes)
        return axes

    @field_validator("max_parallel")
    @classmethod
    def _parallel_limit(cls, value: int | str) -> int | str:
        return check_limit(value, "max-parallel")

    def parallel_limit(self, render: Callable[[Any], Any]) -> int:
        """``max-parallel`` as a number, rendering it first when it is an expression."""
        return render_limit(self.max_parallel, render, "max-parallel")

    @model_validator(mode="after")
    def _bounded(self) -> Strategy:
        self.check_size()
        return self

    def check_size(self, axes: dict[str, list[Any]] | None = None) -> None:
        """Refuse a matrix beyond ``RUNWRIGHT_MAX_STRATEGIES`` before building a combination:
        the product of the value counts plus the ``include`` entries is the most it can make
        (a data axis counts once until its values are known)."""
        limit = Limits.from_env().max_strategies
        sized = [len(values) if isinstance(values, list) else 1 for values in (axes or self.matrix).values()]
        most = math.prod(sized) if sized else 0
        most += len(self.include)
        if most > limit:
            sizes = " x ".join(str(size) for size in sized) or "0"
            raise ValueError(
                f"the matrix makes up to {most} combinations, more than {limit} (RUNWRIGHT_MAX_STRATEGIES): "
                f"{sizes} values plus {len(self.include)} include entries"
            )

    def combinations(self, axes: dict[str, list[Any]] | None = None) -> list[dict[str, Any]]:
        """GitHub Actions semantics: ``include`` entries extend every combination whose original
        values they do not contradict, and become a new combination when they extend none.

        ``axes`` are the axes with the data axes' values (:meth:`axes_for`); without them a data
        axis has the one value None (what the static checks use)."""
        if axes is None:
            self.check_size()
            axes = {key: value if isinstance(value, list) else [None] for key, value in self.matrix.items()}
        keys = list(axes)
        combos = (
            [dict(zip(keys, values, strict=True)) for values in itertools.product(*axes.values())]
            if keys
            else []
        )
        combos = [
            combo
            for combo in combos
            if not any(all(combo.get(k) == v for k, v in ex.items()) for ex in self.exclude)
        ]
        originals = [dict(combo) for combo in combos]
        for extra in self.include:
            extended = False
            for combo, original in zip(combos, originals, strict=True):
                if all(original[k] == v for k, v in extra.items() if k in original):
                    combo.update(extra)
                    extended = True
            if not extended:
                combos.append(dict(extra))
                originals.append(dict(extra))
        return combos or [{}]


class Job(TemplateModel):
    id: str | None = Field(None, description="The job's key again (the peer's form); must equal it.")
    desc: str | None = Field(None, description="Free text for readers; never run.")
    needs: list[str] = Field(
        default_factory=list, description="Jobs that must finish first (a name or a list); see trigger-rule."
    )
    if_: str | bool | None = Field(
        None, alias="if", description="Condition (one expression); the job is SKIP when it is false."
    )
    runs_on: RunsOn | None = Field(
        None, alias="runs-on", description="Executor: 'local' (default) or {type: dask, address: ...}."
    )
    trigger_rule: TriggerRule = Field(
        TriggerRule.ALL_SUCCESS, alias="trigger-rule", description="Which results of `needs` let the job run."
    )
    strategy: Strategy | None = Field(None, description="A matrix: run the job once per combination.")
    stages: list[AnyStage] = Field(  # type: ignore[valid-type]
        min_length=1, description="The stages, run in order."
    )
    outputs: dict[str, Any] = Field(
        default_factory=dict,
        description="Values (usually expressions on stages.*) kept as jobs.<job>.outputs after a success.",
    )
    timeout_minutes: float | None = Field(
        None, alias="timeout-minutes", gt=0, le=MAX_MINUTES, description="The job fails after this long."
    )
    continue_on_error: bool = Field(
        False, alias="continue-on-error", description="A failure is recorded but does not fail the run."
    )
    concurrency: Concurrency | None = Field(
        None, description="A group whose jobs (each matrix strategy) share `limit` slots across runs."
    )
    pool: str | None = Field(
        None, description="A `type: Pool` template: the job holds its slots while it runs."
    )
    pool_slots: int = Field(
        1, alias="pool-slots", ge=1, le=MAX_LIMIT, description="How many of the pool's slots the job takes."
    )
    catch: list[AnyStage] | None = Field(  # type: ignore[valid-type]
        None, description="Stages run when the job fails; ${{ error.name }} is set."
    )
    finally_: list[AnyStage] | None = Field(  # type: ignore[valid-type]
        None, alias="finally", description="Stages that always run after the job."
    )

    @field_validator("needs", mode="before")
    @classmethod
    def _needs_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _unique_stage_ids(self) -> Job:
        check_unique_ids(self.stages, "this job")  # type: ignore[arg-type]
        return self

    @model_validator(mode="after")
    def _matrix_stage_ids(self, info: ValidationInfo) -> Job:
        runtime = (info.context or {}).get("runtime")
        if runtime is not None:
            check_matrix_ids(self, runtime.expressions)
        return self

    @model_validator(mode="after")
    def _runs_on_installed(self, info: ValidationInfo) -> Job:
        runtime = (info.context or {}).get("runtime")
        if runtime is not None and self.runs_on is not None:
            check_installed(self.runs_on, runtime.executors, "")
        return self

    @property
    def stage_list(self) -> list[Stage]:
        return self.stages  # type: ignore[return-value]


def check_matrix_ids(job: Job, engine: ExpressionEngine) -> None:
    """Stage ids and names may use ``${{ matrix.* }}`` only, in a job with a strategy, and must
    not collide once rendered for any strategy."""
    groups: list[list[Stage]] = []

    def collect(stages: list[Stage]) -> None:
        groups.append(stages)
        for stage in stages:
            for nested in [*stage.nested_stages(), stage.catch or [], stage.finally_ or []]:
                collect(nested)  # type: ignore[arg-type]

    for stages in (job.stage_list, job.catch or [], job.finally_ or []):
        collect(stages)  # type: ignore[arg-type]
    templated = [s for group in groups for s in group if "${{" in (s.id or s.name or "")]
    if not templated:
        return
    for stage in templated:
        text = stage.id or stage.name or ""
        what = "id" if stage.id else "name (its id, as it has no id:)"
        names = engine.root_names(text)
        if names - {"matrix"}:
            raise ValueError(
                f"stage {what} '{text}' may use ${{{{ matrix.* }}}} only "
                f"(found {', '.join(sorted(names - {'matrix'}))})"
            )
        if names and job.strategy is None:
            raise ValueError(f"stage {what} '{text}' uses ${{{{ matrix.* }}}} but the job has no strategy")
    for combo in job.strategy.combinations() if job.strategy else []:
        for group in groups:
            seen: dict[str, str] = {}
            for stage in group:
                try:
                    identity = stage.for_matrix(combo, engine.render).identity
                except ExpressionError as exc:
                    raise ValueError(f"stage '{stage.identity}' with matrix {combo}: {exc}") from None
                if identity in seen:
                    raise ValueError(
                        f"stage ids collide with matrix {combo}: '{seen[identity]}' and "
                        f"'{stage.identity}' are both '{identity}'"
                    )
                seen[identity] = stage.identity
