"""runwright's PostgreSQL audit backend (``postgresql://`` URLs)."""

from runwright_audit_postgres.backend import PostgresAuditBackend

__all__ = ["PostgresAuditBackend"]
