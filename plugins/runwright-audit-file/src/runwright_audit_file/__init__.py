"""runwright-audit-file: release audit records as JSON files (``file://`` URLs)."""

from __future__ import annotations

from runwright_audit_file.backend import FileAuditBackend

__all__ = ["FileAuditBackend"]
