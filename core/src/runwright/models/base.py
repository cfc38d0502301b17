"""The strict base every template model shares: unknown keys are errors."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

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


#: What editors check (the JSON Schema); :func:`template_name` also refuses every other
#: character Python does not print (no-break spaces, format characters).
TEMPLATE_NAME_PATTERN = r"^(?!\.{1,2}$)[^${}/\x00-\x1f\x7f-\x9f]+$"


def template_name(value: str) -> str:
    """A template's name is part of the API's and the pages' URLs, of CLI arguments and of
    ``${{ }}`` expressions: refuse what one of them cannot hold, naming the characters."""
    if value in {".", ".."}:
        raise ValueError(f"a template name cannot be {value!r}: a URL drops it as a path step")
    refused = [c for c in dict.fromkeys(value) if c in "${}/" or not c.isprintable()]
    if refused:
        listed = ", ".join(repr(c) for c in refused)
        raise ValueError(
            f"a template name cannot contain {listed}: names are used in URLs, in file names and "
            "in ${{ }} expressions (letters, digits, spaces and '-', '_', '.' are safe)"
        )
    return value


#: The ``name`` of every template kind (the YAML key it is written under).
TemplateName = Annotated[
    str,
    Field(min_length=1, json_schema_extra={"pattern": TEMPLATE_NAME_PATTERN}),
    AfterValidator(template_name),
]


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
