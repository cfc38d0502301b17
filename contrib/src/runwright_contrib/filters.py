"""Custom template filters for the example templates."""

from __future__ import annotations

from runwright import custom_filter


@custom_filter("shout")
def shout(value: object, mark: str = "!") -> str:
    return f"{str(value).upper()}{mark}"
