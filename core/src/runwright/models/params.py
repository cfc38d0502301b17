"""Typed workflow params: shorthand (``name: str``) or full form, validated at run time."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BeforeValidator, Field, field_validator

from runwright.models.base import TemplateModel, known_zone


class ParamBase(TemplateModel):
    """Common fields. A param is required when it has no default (see ``has_default``)."""

    desc: str | None = Field(None, description="What the param is for.")
    required: bool | None = Field(None, description="Must be given (default: when there is no default).")
    default: Any = Field(None, description="The value when none is given.")

    def has_default(self) -> bool:
        return self.default is not None

    def is_required(self) -> bool:
        if self.required is not None:
            return self.required
        return not self.has_default()

    def default_value(self, logical_date: datetime | None = None) -> Any:
        """The value when none is given; ``logical_date`` is the run's (see models/release.py)."""
        return None if self.default is None else self.convert(self.default)

    def convert(self, value: Any) -> Any:  # pragma: no cover - every type overrides
        raise NotImplementedError


def described(value: Any) -> str:
    """How a param error names the value it refuses: its kind and size, never the value itself
    (a ``-p`` value may be a password typed on the command line)."""
    if isinstance(value, str):
        return f"a text of {len(value)} character{'s' if len(value) != 1 else ''} (not shown)"
    return f"a value of type {type(value).__name__} (not shown)"


class StrParam(ParamBase):
    type: Literal["str"] = Field("str", description="The param's type.")

    def convert(self, value: Any) -> str:
        if isinstance(value, dict | list):
            raise ValueError(f"expected a string, got {type(value).__name__}")
        return str(value)


class IntParam(ParamBase):
    type: Literal["int"] = Field("int", description="The param's type.")

    def convert(self, value: Any) -> int:
        if isinstance(value, bool) or isinstance(value, float) and not value.is_integer():
            raise ValueError(f"expected an integer, got {described(value)}")
        try:
            return int(str(value).strip()) if not isinstance(value, int | float) else int(value)
        except ValueError:
            raise ValueError(f"expected an integer, got {described(value)}") from None


class FloatParam(ParamBase):
    type: Literal["float"] = Field("float", description="The param's type.")

    def convert(self, value: Any) -> float:
        if isinstance(value, bool):
            raise ValueError(f"expected a number, got {described(value)}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ValueError(f"expected a number, got {described(value)}") from None


class DecimalParam(ParamBase):
    type: Literal["decimal"] = Field("decimal", description="The param's type.")

    def convert(self, value: Any) -> Decimal:
        if isinstance(value, bool):
            raise ValueError(f"expected a decimal number, got {described(value)}")
        try:
            return Decimal(str(value).strip())
        except InvalidOperation:
            raise ValueError(f"expected a decimal number, got {described(value)}") from None


_TRUE = {"true", "1", "yes", "y", "on"}
_FALSE = {"false", "0", "no", "n", "off"}


class BoolParam(ParamBase):
    type: Literal["bool"] = Field("bool", description="The param's type.")

    def convert(self, value: Any) -> bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ValueError(f"expected true or false, got {described(value)}")


class _ZonedParam(ParamBase):
    timezone: str = Field("UTC", description="IANA zone naive values are read in.")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return known_zone(value)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def at_logical_date(self, logical_date: datetime) -> datetime:
        """The run's logical date, in ``timezone`` when one is set (else in the cron's own)."""
        return logical_date.astimezone(self.zone) if "timezone" in self.model_fields_set else logical_date


class DatetimeParam(_ZonedParam):
    """ISO strings or ``now``; naive values are read in ``timezone`` (default UTC).

    The result is always timezone-aware, whatever the host's timezone. Without a default the
    param is the run's logical date (the tick of a scheduled or backfilled run, the wall clock
    of a plain manual one), in the cron's zone unless ``timezone`` is set.
    """

    type: Literal["datetime"] = Field("datetime", description="The param's type.")

    def has_default(self) -> bool:
        return True

    def default_value(self, logical_date: datetime | None = None) -> datetime:
        if self.default is None and logical_date is not None:
            return self.at_logical_date(logical_date)
        return self.convert("now" if self.default is None else self.default)

    def convert(self, value: Any) -> datetime:
        if isinstance(value, str):
            text = value.strip()
            if text.lower() == "now":
                return datetime.now(UTC).astimezone(self.zone)
            try:
                value = datetime.fromisoformat(text)
            except ValueError:
                raise ValueError(f"expected an ISO datetime or 'now', got {described(value)}") from None
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=self.zone)
        if isinstance(value, date):
            return datetime(value.year, value.month, value.day, tzinfo=self.zone)
        raise ValueError(f"expected an ISO datetime or 'now', got {described(value)}")


class DateParam(_ZonedParam):
    """ISO dates, datetimes or ``today`` (today in ``timezone``). Without a default: the date
    of the run's logical date (in the cron's zone unless ``timezone`` is set)."""

    type: Literal["date"] = Field("date", description="The param's type.")

    def has_default(self) -> bool:
        return True

    def default_value(self, logical_date: datetime | None = None) -> date:
        if self.default is None and logical_date is not None:
            return self.at_logical_date(logical_date).date()
        return self.convert("today" if self.default is None else self.default)

    def convert(self, value: Any) -> date:
        if isinstance(value, str):
            text = value.strip()
            if text.lower() in {"today", "now"}:
                return datetime.now(UTC).astimezone(self.zone).date()
            try:
                value = (
                    datetime.fromisoformat(text) if "T" in text or " " in text else date.fromisoformat(text)
                )
            except ValueError:
                raise ValueError(f"expected an ISO date or 'today', got {described(value)}") from None
        if isinstance(value, datetime):
            return (value.astimezone(self.zone) if value.tzinfo else value).date()
        if isinstance(value, date):
            return value
        raise ValueError(f"expected an ISO date or 'today', got {described(value)}")


class ChoiceParam(ParamBase):
    type: Literal["choice"] = Field("choice", description="The param's type.")
    options: list[Any] = Field(min_length=1, description="The allowed values.")

    def convert(self, value: Any) -> Any:
        for option in self.options:
            if value == option or str(value) == str(option):
                return option
        choices = ", ".join(repr(o) for o in self.options)
        raise ValueError(f"expected one of {choices}, got {described(value)}")


class ArrayParam(ParamBase):
    type: Literal["array"] = Field("array", description="The param's type.")

    def has_default(self) -> bool:
        return True

    def default_value(self, logical_date: datetime | None = None) -> list[Any]:
        return self.convert([] if self.default is None else self.default)

    def convert(self, value: Any) -> list[Any]:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                raise ValueError(f"expected a list or a JSON array, got {described(value)}") from None
        if isinstance(value, list | tuple):
            return list(value)
        raise ValueError(f"expected a list, got {type(value).__name__}")


class MapParam(ParamBase):
    type: Literal["map"] = Field("map", description="The param's type.")

    def has_default(self) -> bool:
        return True

    def default_value(self, logical_date: datetime | None = None) -> dict[str, Any]:
        return self.convert({} if self.default is None else self.default)

    def convert(self, value: Any) -> dict[str, Any]:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                raise ValueError(f"expected a mapping or a JSON object, got {described(value)}") from None
        if isinstance(value, dict):
            return dict(value)
        raise ValueError(f"expected a mapping, got {type(value).__name__}")


Param = Annotated[
    StrParam
    | IntParam
    | FloatParam
    | DecimalParam
    | BoolParam
    | DateParam
    | DatetimeParam
    | ChoiceParam
    | ArrayParam
    | MapParam,
    Field(discriminator="type"),
]

ParamShorthand = Literal[
    "str", "int", "float", "decimal", "bool", "date", "datetime", "choice", "array", "map"
]


def expand_shorthand(value: Any) -> Any:
    """``name: str`` is short for ``name: {type: str}``; a mapping must say its ``type``."""
    if isinstance(value, str):
        return {"type": value}
    if isinstance(value, dict) and "type" not in value:
        raise ValueError(f"a param mapping needs 'type', one of: {', '.join(PARAM_TYPES)}")
    return value


PARAM_TYPES: tuple[str, ...] = ParamShorthand.__args__  # type: ignore[attr-defined]


ParamSpec = Annotated[Param, BeforeValidator(expand_shorthand, json_schema_input_type=ParamShorthand | Param)]
"""A param in a template: the shorthand type name or the full mapping."""
