"""Keep secret values out of trace lines, outputs and error messages.

runwright core masks the `SecretStr` arguments it knows of, but this plugin also learns
secrets at run time (OAuth access tokens, the base64 form of basic credentials) and echoes
server text (error bodies, response headers), so it masks them itself before anything leaves.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from pydantic import SecretStr
from runwright.masking import MASKER

MASK = "***"


def reveal(value: str | SecretStr | None) -> str | None:
    """The plain text of a possibly secret value (only for building requests)."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    return value


class Redactor:
    """Replaces every registered secret value by `***` in text and JSON-like data."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()

    def add(self, value: str | SecretStr | None) -> None:
        """Register a secret here and with core's masker (so every later log line, output and
        audit record of the process masks it too); empty values are ignored."""
        text = reveal(value)
        if text:
            self._secrets.add(text)
            MASKER.add(text)

    def add_basic(self, username: str, password: str | SecretStr | None) -> None:
        """Register basic credentials, including the base64 form sent on the wire."""
        self.add(password)
        raw = f"{username}:{reveal(password) or ''}".encode()
        self.add(base64.b64encode(raw).decode("ascii"))

    def text(self, value: str) -> str:
        """`value` with every secret masked (longest first, so overlapping ones mask fully)."""
        for secret in sorted(self._secrets, key=len, reverse=True):
            if secret in value:
                value = value.replace(secret, MASK)
        return value

    def data(self, value: Any) -> Any:
        """A copy of JSON-like `value` with secrets masked in every string, key included."""
        if not self._secrets:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.data(k): self.data(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.data(v) for v in value]
        return value


class Tracer:
    """The run's `trace` callable with masking applied; a no-op when core passed none."""

    def __init__(self, trace: Callable[[str], None] | None, redactor: Redactor) -> None:
        self._trace = trace
        self._redactor = redactor

    def __call__(self, message: str) -> None:
        if self._trace is not None:
            self._trace(self._redactor.text(message))
