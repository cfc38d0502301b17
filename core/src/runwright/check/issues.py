"""A problem found inside one value, before it is given a file position."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from runwright.spelling import did_you_mean

__all__ = ["Issue", "did_you_mean", "listing"]


@dataclass(frozen=True)
class Issue:
    rule: str
    message: str
    nth: int | None = None
    """Which ``${{`` of the value it is about (to point at it); None: the value itself."""
    severity: str = "error"


def listing(choices: Iterable[str], limit: int = 12) -> str:
    items = sorted(set(choices))
    if not items:
        return "nothing"
    shown = ", ".join(items[:limit])
    return shown + (f", ... ({len(items)} in all)" if len(items) > limit else "")
