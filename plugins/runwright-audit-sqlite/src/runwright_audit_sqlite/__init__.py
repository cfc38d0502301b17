"""runwright-audit-sqlite: release audit records in one SQLite database (``sqlite://`` URLs)."""

from __future__ import annotations

from runwright_audit_sqlite.backend import SqliteAuditBackend

__all__ = ["SqliteAuditBackend"]
