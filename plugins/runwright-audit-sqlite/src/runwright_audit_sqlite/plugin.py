"""The runwright entry point of this distribution: the ``sqlite://`` audit backend."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from runwright import hookimpl

if TYPE_CHECKING:
    from runwright_audit_sqlite.backend import SqliteAuditBackend

SCHEME = "sqlite"


@hookimpl
def make_audit_backend(url: str, state_dir: Path) -> SqliteAuditBackend | None:
    """A backend for ``sqlite://`` URLs; None for any other scheme, so other plugins answer."""
    if url.split("://", 1)[0].lower() != SCHEME:
        return None
    from runwright_audit_sqlite.backend import SqliteAuditBackend  # only when a run records here

    return SqliteAuditBackend(url, relative_to=state_dir)


@hookimpl
def audit_backend_schemes() -> list[str]:
    """Named in the error raised for a URL no backend accepts."""
    return [SCHEME]


@hookimpl
def default_audit_url(state_dir: Path) -> str:
    """The default store when the file store is not installed."""
    return f"sqlite:///{state_dir / 'audit.db'}"
