"""runwright-audit-file: release audit records as JSON files (``file://`` URLs)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runwright_audit_file.backend import FileAuditBackend

__all__ = ["FileAuditBackend"]


def __getattr__(name: str) -> Any:
    """``FileAuditBackend`` is imported on first use: loading the plugin must stay cheap."""
    if name == "FileAuditBackend":
        from runwright_audit_file.backend import FileAuditBackend

        return FileAuditBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
