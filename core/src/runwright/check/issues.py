"""A problem found inside one value, before it is given a file position."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Issue:
    rule: str
    message: str
    nth: int | None = None
    """Which ``${{`` of the value it is about (to point at it); None: the value itself."""
    severity: str = "error"


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    from difflib import get_close_matches  # only when something is misspelt

    close = get_close_matches(word, sorted(set(choices)), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def listing(choices: Iterable[str], limit: int = 12) -> str:
    items = sorted(set(choices))
    if not items:
        return "nothing"
    shown = ", ".join(items[:limit])
    return shown + (f", ... ({len(items)} in all)" if len(items) > limit else "")
