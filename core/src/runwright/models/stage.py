"""The stage base model and how a YAML stage finds its kind.

A stage kind is a subclass of :class:`Stage` with a ``kind`` class variable naming its
distinguishing key (``bash``, ``uses``...). Kinds arrive through the ``register_stage_types``
hook; a raw stage mapping is validated as the one kind whose key it holds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError, core_schema

from runwright.models.base import MAX_MINUTES, MAX_SECONDS, TemplateModel, slugify
from runwright.models.concurrency import MAX_LIMIT

if TYPE_CHECKING:
    from runwright.engine.context import StageContext


class RetryPolicy(TemplateModel):
    """Step Functions-style retry: how often, how long to wait, and for which errors."""

    max_attempts: int = Field(
        3, alias="max-attempts", ge=1, le=100, description="Attempts in all, the first included."
    )
    delay_seconds: float = Field(
        1.0, alias="delay-seconds", ge=0, le=MAX_SECONDS, description="Wait before the second attempt."
    )
    backoff: float = Field(2.0, ge=1, le=100, description="Each later wait is the previous one times this.")
    max_delay_seconds: float = Field(
        300.0, alias="max-delay-seconds", ge=0, le=MAX_SECONDS, description="Longest wait between attempts."
    )
    jitter: bool = Field(False, description="Wait a random time between 0 and the computed delay.")
    on: list[str] = Field(
        default_factory=lambda: ["all"],
        description="Error names to retry ('all': every error that is not permanent).",
    )

    def delay_before(self, attempt: int) -> float:
        """Seconds to wait before attempt number ``attempt`` (2, 3, ...)."""
        return min(self.delay_seconds * self.backoff ** (attempt - 2), self.max_delay_seconds)

    def retries(self, error_name: str, permanent: bool = False) -> bool:
        """A permanent error (a template, expression or argument mistake) is retried only when
        ``on`` names it: trying the same input again cannot help."""
        return error_name in self.on or ("all" in self.on and not permanent)


def _dispatch_stage(value: Any, info: ValidationInfo) -> Stage:
    if isinstance(value, Stage):
        return value
    kinds: Mapping[str, type[Stage]] = (info.context or {}).get("stage_kinds") or {}
    if not kinds:
        raise PydanticCustomError("no_stage_kinds", "no stage kinds are registered")
    if not isinstance(value, Mapping):
        raise PydanticCustomError(
            "stage_type", "expected a stage mapping, got {got}", {"got": type(value).__name__}
        )
    found = [key for key in value if key in kinds]
    if len(found) > 1:  # e.g. ``run:`` with ``deps:``: the kind whose companions cover the rest
        owners = [k for k in found if set(found) - {k} <= kinds[k].companion_kinds]
        found = owners if len(owners) == 1 else found
    if len(found) == 1:
        return kinds[found[0]].model_validate(value, context=info.context)
    empty = kinds.get(EMPTY_STAGE_KIND)
    if not found and empty is not None and set(map(str, value)) <= accepted_keys(empty):
        return empty.model_validate(value, context=info.context)  # ``name:`` only: does nothing
    known = ", ".join(sorted(kinds))
    if not found:
        keys = ", ".join(map(str, value)) or "none"
        hint = ""
        plain = accepted_keys(empty) if empty is not None else set()
        for key in (k for k in value if str(k) not in plain):
            from runwright.spelling import closest  # only when something is misspelt

            meant = closest(str(key), [*kinds, *sorted(plain - set(kinds))])
            if meant:
                hint = f" (did you mean '{meant}' instead of '{key}'?)"
                break
        raise PydanticCustomError(
            "stage_kind",
            "cannot tell the stage's kind: found keys {keys}; a stage needs exactly one of {known}{hint}",
            {"keys": keys, "known": known, "hint": hint},
        )
    raise PydanticCustomError(
        "stage_kind",
        "a stage must have exactly one kind key, found several: {found}",
        {"found": ", ".join(found)},
    )


STAGE_PLACEHOLDER = "x-runwright-any-stage"
EMPTY_STAGE_KIND = "echo"
"""The kind of a stage with no kind key (only ``name:``, ``if:``, ``sleep:``...): it does nothing."""


def accepted_keys(kind: type[Stage]) -> set[str]:
    """The YAML keys a stage kind accepts (``name``, ``id``, ``if``, ``sleep``...)."""
    return {field.alias or name for name, field in kind.model_fields.items()}


STAGE_RECORD_KEYS = (
    "status",
    "outputs",
    "errors",
    "reason",
    "attempts",
    "attempt_errors",
    "catch",
    "finally",
    "outcome",
    "caught",
    "reused",
)
"""What ``stages.<id>`` holds at run time (engine/stage_runner.py writes exactly these)."""


@dataclass(frozen=True)
class NestedScope:
    """Stages a stage kind runs inside itself, and the names it binds for them.

    ``path`` is where the stages sit inside the stage's YAML (``("stages",)``,
    ``("parallel", "a")``); ``binds`` maps each bound name to the keys it holds (a tuple) or
    ``None`` when unknown before the run; ``fields`` are this stage's own fields evaluated
    inside the nested scope, after all its stages ran (``until:``).
    """

    path: tuple[str | int, ...]
    stages: list[Any]
    binds: Mapping[str, tuple[str, ...] | None] = field(default_factory=dict)
    fields: tuple[str, ...] = ()


class AnyStage:
    """Annotation for "a stage of any registered kind" (``list[AnyStage]``)."""

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> core_schema.CoreSchema:
        return core_schema.with_info_plain_validator_function(_dispatch_stage)

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: Any, handler: Any) -> dict[str, Any]:
        return {STAGE_PLACEHOLDER: True}  # replaced by a $ref in runwright.schema


class Stage(TemplateModel):
    """Fields every stage kind has. Subclasses add their key field and implement ``run``."""

    kind: ClassVar[str] = ""
    raw_text_fields: ClassVar[tuple[str, ...]] = ()
    """Fields holding script text where ``${VAR}`` is left for the shell, not substituted."""
    companion_kinds: ClassVar[frozenset[str]] = frozenset()
    """Other kinds' keys this kind may hold beside its own (``deps:`` holds ``run:``)."""

    name: str | None = Field(None, description="Shown in logs and the summary.")
    id: str | None = Field(
        None,
        description="Its outputs are stages.<id>.outputs (default: the name slugified; "
        "may use ${{ matrix.* }}).",
    )
    desc: str | None = Field(None, description="Free text for readers; never run.")
    if_: str | bool | None = Field(
        None, alias="if", description="Condition (one expression); the stage is SKIP when it is false."
    )
    timeout_minutes: float | None = Field(
        None, alias="timeout-minutes", gt=0, le=MAX_MINUTES, description="The stage fails after this long."
    )
    continue_on_error: bool = Field(
        False, alias="continue-on-error", description="A failure is recorded but does not fail the job."
    )
    retry: RetryPolicy | None = Field(
        None, description="Retry on failure: N (N retries after the first try) or a retry mapping."
    )
    pool: str | None = Field(
        None, description="A `type: Pool` template: the stage holds its slots while it runs."
    )
    pool_slots: int = Field(
        1, alias="pool-slots", ge=1, le=MAX_LIMIT, description="How many of the pool's slots the stage takes."
    )
    catch: list[AnyStage] | None = Field(
        None, description="Stages run when this stage fails; ${{ error.name }} is set."
    )
    finally_: list[AnyStage] | None = Field(
        None, alias="finally", description="Stages that always run after this one."
    )

    def static_outputs(self, runtime: Any) -> frozenset[str] | None:
        """The names a run of this stage can bind in ``outputs``, when they are known without
        running it (a superset is fine); None when they are not (nothing is checked then).

        The checker reports ``stages.ID.outputs.NAME`` that no run can bind.
        """
        return None

    @field_validator("retry", mode="before")
    @classmethod
    def _retry_count(cls, value: Any) -> Any:
        """``retry: N`` (the peer's form) is N retries after the first try: N + 1 attempts."""
        if isinstance(value, int) and not isinstance(value, bool):
            if value < 0:
                raise ValueError(f"retry must be a count of retries (0 or more), got {value}")
            return {"max-attempts": value + 1}
        return value

    @model_validator(mode="after")
    def _named(self) -> Stage:
        if not self.name and not self.id:
            raise ValueError("a stage needs a 'name' or an 'id'")
        return self

    @property
    def identity(self) -> str:
        """The key of this stage's result: ``id``, else its name slugified."""
        return self.id or slugify(self.name or "")

    @property
    def label(self) -> str:
        return self.name or self.id or self.kind

    def for_matrix(self, matrix: Mapping[str, Any], render: Callable[[str, Mapping[str, Any]], Any]) -> Stage:
        """This stage with ``${{ matrix.* }}`` in its id rendered for one strategy (the ``id``,
        else the ``name`` it is made from)."""
        field = "id" if self.id is not None else "name"
        value = getattr(self, field)
        if not isinstance(value, str) or "${{" not in value:
            return self
        return self.model_copy(update={field: str(render(value, {"matrix": matrix}))})

    def run(self, ctx: StageContext) -> dict[str, Any]:  # pragma: no cover - abstract
        """Do the work; return the outputs. Raise to fail (the error is recorded)."""
        raise NotImplementedError

    def nested_stages(self) -> list[list[Stage]]:
        """Stage lists inside this stage (for validation of ids and dry runs)."""
        return []


def check_limit(value: int | str, key: str, maximum: int | None = None) -> int | str:
    """A concurrency limit (``max-parallel``, ``max-workers``): a number >= 1 or an expression."""
    if isinstance(value, str) and "${{" not in value:
        try:
            value = int(value)
        except ValueError:
            raise ValueError(f"{key} must be a number or a ${{{{ }}}} expression, got '{value}'") from None
    if isinstance(value, int) and not (1 <= value <= (maximum or value)):
        bound = f"between 1 and {maximum}" if maximum else "at least 1"
        raise ValueError(f"{key} must be {bound}, got {value}")
    return value


def render_limit(value: int | str, render: Callable[[Any], Any], key: str, maximum: int | None = None) -> int:
    """The limit as a number, rendering it first when it is an expression."""
    rendered = render(value) if isinstance(value, str) else value
    try:
        limit = int(rendered)
    except (TypeError, ValueError):
        raise ValueError(f"{key} '{value}' gave {rendered!r}, not a number") from None
    if limit < 1 or (maximum is not None and limit > maximum):
        bound = f"between 1 and {maximum}" if maximum else "at least 1"
        raise ValueError(f"{key} '{value}' gave {limit}; it must be {bound}")
    return limit


def check_unique_ids(stages: list[Stage], where: str) -> None:
    seen: set[str] = set()
    for stage in stages:
        if stage.identity in seen:
            raise ValueError(f"two stages in {where} have the id '{stage.identity}'; give one an 'id:'")
        seen.add(stage.identity)
