"""``on:`` entries: when a workflow is released (cron ticks in a timezone)."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator

from runwright.models.base import TemplateModel, known_zone


class CronEvent(TemplateModel):
    """A 5-field cron expression read in an IANA timezone (default UTC).

    ``start``/``end`` bound the ticks; ``catchup`` is how far back missed ticks are run after
    downtime (default off: only the latest missed tick runs); ``retry-crashed``: when the
    scheduler starts, each tick whose latest attempt was killed (CRASHED, whoever marked it) is
    released once more.
    """

    cronjob: str = Field(description="A 5-field cron expression: minute hour day month weekday.")
    timezone: str = Field("UTC", alias="timezone", description="IANA zone the cron is read in.")
    start: datetime | None = Field(None, description="No tick before this time.")
    end: datetime | None = Field(None, description="No tick after this time.")
    catchup: timedelta | None = Field(
        None, description="ISO 8601 duration (PT2H, P1D) or seconds: the catch-up window."
    )
    retry_crashed: bool = Field(
        False,
        alias="retry-crashed",
        description="Release a crashed tick once more when the scheduler starts.",
    )

    @field_validator("start", "end")
    @classmethod
    def _zoned(cls, value: datetime | None, info: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            zone = ZoneInfo(info.data.get("timezone") or "UTC")
            return value.replace(tzinfo=zone)
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @field_validator("cronjob")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        if len(value.split()) != 5 or not _valid_cron_text(value):
            raise ValueError(f"'{value}' is not a valid 5-field cron expression: {cron_problem(value)}")
        return value

    @field_validator("timezone")
    @classmethod
    def _valid_zone(cls, value: str) -> str:
        return known_zone(value)


@functools.lru_cache(maxsize=4096)
def _valid_cron_text(value: str) -> bool:
    """croniter's check, once per distinct line (~0.1 ms each: 1 s for 10,000 scheduled workflows)."""
    from croniter import croniter  # only templates with a schedule pay for it

    return bool(croniter.is_valid(value))


CRON_FIELDS = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")),
    ("day of week", 0, 7, ("sun", "mon", "tue", "wed", "thu", "fri", "sat")),
)


def cron_problem(value: str) -> str:
    """Which field of a cron line is wrong and what it accepts (for the error message)."""
    fields = value.split()
    if len(fields) != 5:
        names = " ".join(name.replace(" ", "-") for name, *_ in CRON_FIELDS)
        return f"it has {len(fields)} field(s), expected 5 ({names})"
    for number, (text, (name, low, high, words)) in enumerate(zip(fields, CRON_FIELDS, strict=True), 1):
        expected = f"{low}-{high}" + (f" or {words[0]}-{words[-1]}" if words else "")
        for item in text.split(","):
            body, _, step = item.partition("/")
            if step and not (step.isdigit() and int(step) > 0):
                return f"field {number} ({name}) has step '/{step}', expected a whole number from 1"
            if body == "*" or (body == "?" and number in (3, 5)):
                continue
            for end in body.split("-", 1) if body else [""]:
                if end.lower() in words:
                    continue
                if not end.isdigit() or not low <= int(end) <= high:
                    return f"field {number} ({name}) is '{text}', expected {expected}"
    return "croniter refuses it"


def has_release_trigger(raw: Mapping[str, Any]) -> bool:
    """Whether a template's raw mapping follows other workflows (``on: {release: [...]}``)."""
    on = raw.get("on")
    return isinstance(on, Mapping) and bool(on.get("release"))


def split_release_triggers(data: Any) -> tuple[Any, tuple[str, ...]]:
    """Take ``release:`` out of an ``on:`` mapping: (the template without it, the names)."""
    if not isinstance(data, dict) or not isinstance(data.get("on"), dict) or "release" not in data["on"]:
        return data, ()
    on = dict(data["on"])
    names = on.pop("release") or []
    if isinstance(names, str):
        names = [names]
    if not isinstance(names, list) or not all(isinstance(n, str) and n.strip() for n in names):
        raise ValueError(f"on.release must be a list of workflow names, got {names!r}")
    return {**data, "on": on or None}, tuple(dict.fromkeys(n.strip() for n in names))


def normalise_on(value: Any) -> Any:
    """Accept the seed's list form, a mapping ``{schedule: [...]}`` or one cron mapping."""
    if value is None:
        return []
    if isinstance(value, dict):
        if "schedule" in value:
            extra = set(value) - {"schedule"}
            if extra:
                raise ValueError(f"unknown keys in 'on': {', '.join(sorted(extra))}")
            return value["schedule"] or []
        return [value]
    return value
