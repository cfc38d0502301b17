"""Masking of secret values in everything printed or stored.

A value becomes secret when it is substituted from an environment variable whose name contains
KEY, TOKEN, SECRET or PASSWORD, or when a call function receives it as a ``SecretStr``. The value
still reaches the stage that uses it; every log line, trace event, CLI output and audit record
goes through :func:`mask` first.
"""

from __future__ import annotations

import re
import threading
from typing import Any

SECRET_NAME_MARKERS = ("KEY", "TOKEN", "SECRET", "PASSWORD")
MASK = "***"


def is_secret_name(name: str) -> bool:
    """Whether an environment variable's name marks its value as a secret."""
    upper = name.upper()
    return any(marker in upper for marker in SECRET_NAME_MARKERS)


class Masker:
    """A thread-safe set of secret values and a compiled pattern that replaces them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def add(self, value: str) -> None:
        """Mark ``value`` as secret from now on (empty values are ignored)."""
        if not value or value in self._values:
            return
        with self._lock:
            self._values.add(value)
            ordered = sorted(self._values, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(v) for v in ordered))

    def values(self) -> tuple[str, ...]:
        """The secrets known here, to hand to another process that runs part of a run."""
        with self._lock:
            return tuple(self._values)

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._pattern = None

    def mask(self, value: Any) -> Any:
        """Return ``value`` with every secret replaced by ``***``, recursing into containers."""
        pattern = self._pattern
        if pattern is None:
            return value
        return _mask(value, pattern)


def _mask(value: Any, pattern: re.Pattern[str]) -> Any:
    if isinstance(value, str):
        return pattern.sub(MASK, value)
    if isinstance(value, dict):
        return {_mask(k, pattern): _mask(v, pattern) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask(v, pattern) for v in value]
    return value


MASKER = Masker()
"""The process-wide masker: a secret seen by any template is masked in every output."""


def mask(value: Any) -> Any:
    """Mask secrets in ``value`` (strings, and strings nested in dicts and lists)."""
    return MASKER.mask(value)
