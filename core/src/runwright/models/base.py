"""The strict base every template model shares: unknown keys are errors."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict

#: Longest wait or timeout a template may give (a leap year): beyond it, date arithmetic overflows.
MAX_MINUTES = 366 * 24 * 60
MAX_SECONDS = MAX_MINUTES * 60


class TemplateModel(BaseModel):
    """Forbid unknown keys, accept field names or their YAML aliases, never mutate; numbers are
    finite (``.inf`` and ``.nan`` are errors, not endless waits)."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        frozen=True,
        arbitrary_types_allowed=True,
        allow_inf_nan=False,
        defer_build=True,
    )


def known_zone(value: str) -> str:
    """An IANA time zone name, or a ValueError suggesting the one meant (``Europe/Berln``)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        from zoneinfo import available_timezones  # only when a zone is misspelt

        from runwright.spelling import did_you_mean

        raise ValueError(
            f"unknown IANA timezone '{value}'{did_you_mean(value, available_timezones())}"
        ) from None
    return value


def slugify(text: str) -> str:
    """``"Retrieve API Data"`` -> ``"retrieve-api-data"``: the default id of a stage."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "stage"
