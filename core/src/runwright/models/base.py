"""The strict base every template model shares: unknown keys are errors."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict


class TemplateModel(BaseModel):
    """Forbid unknown keys, accept field names or their YAML aliases, never mutate."""

    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, frozen=True, arbitrary_types_allowed=True
    )


def slugify(text: str) -> str:
    """``"Retrieve API Data"`` -> ``"retrieve-api-data"``: the default id of a stage."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "stage"
