"""The runwright entry point of this distribution: the ``file://`` audit backend."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from runwright import hookimpl

if TYPE_CHECKING:
    from runwright_audit_file.backend import FileAuditBackend

SCHEME = "file"


@hookimpl
def make_audit_backend(url: str, state_dir: Path) -> FileAuditBackend | None:
    """A backend for ``file://`` URLs; None for any other scheme, so other plugins answer."""
    if url.split("://", 1)[0].lower() != SCHEME:
        return None
    from runwright_audit_file.backend import FileAuditBackend  # only when a run records here

    return FileAuditBackend(url, relative_to=state_dir)


@hookimpl
def audit_backend_schemes() -> list[str]:
    """Named in the error raised for a URL no backend accepts."""
    return [SCHEME]


@hookimpl(tryfirst=True)
def default_audit_url(state_dir: Path) -> str:
    """The file store is the default store when it is installed."""
    return f"file://{state_dir / 'audits'}"
