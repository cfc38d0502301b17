"""runwright-audit-sqlite: release audit records in one SQLite database (``sqlite://`` URLs)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runwright_audit_sqlite.backend import SqliteAuditBackend

__all__ = ["SqliteAuditBackend"]


def __getattr__(name: str) -> Any:
    """``SqliteAuditBackend`` is imported on first use: loading the plugin must stay cheap."""
    if name == "SqliteAuditBackend":
        from runwright_audit_sqlite.backend import SqliteAuditBackend

        return SqliteAuditBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
