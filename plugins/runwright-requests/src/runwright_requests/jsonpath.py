"""A small dotted JSON path (`links.next`, `$.data`, `result.items[0].id`).

Enough to point at the next page's URL or at the list of records in a response, both when
the body is already parsed and, as an ijson prefix, while it is still streaming.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .errors import ArgumentError

_SEGMENT = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


@dataclass(frozen=True)
class JsonPath:
    """A parsed path: object keys (str) and list indices (int)."""

    text: str
    parts: tuple[str | int, ...]

    @classmethod
    def parse(cls, text: str, *, argument: str) -> JsonPath:
        """Parse `text`; `argument` names the `with:` key in the error message."""
        body = text.strip()
        if body.startswith("$"):
            body = body[1:].lstrip(".")
        parts: list[str | int] = []
        pos = 0
        while pos < len(body):
            if body[pos] == ".":
                pos += 1
                continue
            match = _SEGMENT.match(body, pos)
            if match is None:
                raise ArgumentError(
                    f"{argument} must be a dotted JSON path like 'links.next' or 'data[0].id' (got {text!r})"
                )
            parts.append(match.group(1) if match.group(1) is not None else int(match.group(2)))
            pos = match.end()
        if not parts and body:
            raise ArgumentError(f"{argument} must not be empty (got {text!r})")
        return cls(text=text, parts=tuple(parts))

    def lookup(self, document: Any) -> Any:
        """The value at this path in `document`, or None when any step is missing."""
        current = document
        for part in self.parts:
            if isinstance(part, int):
                if not isinstance(current, list) or part >= len(current):
                    return None
            elif not isinstance(current, dict) or part not in current:
                return None
            current = current[part]
        return current

    def ijson_prefix(self, *, argument: str) -> str:
        """The ijson prefix of this path (streaming cannot address list indices)."""
        if any(isinstance(p, int) for p in self.parts):
            raise ArgumentError(f"{argument} cannot use list indices while streaming (got {self.text!r})")
        return ".".join(str(p) for p in self.parts)
