"""The runwright entry point of this distribution: the ``postgresql://`` audit backend."""

from __future__ import annotations

from runwright import hookimpl

from runwright_audit_postgres.backend import SCHEMES, PostgresAuditBackend


@hookimpl
def make_audit_backend(url: str) -> PostgresAuditBackend | None:
    """A backend for ``postgresql://`` (and ``postgres://``) URLs; None for any other scheme."""
    if url.split("://", 1)[0].lower() not in SCHEMES:
        return None
    return PostgresAuditBackend(url)


@hookimpl
def audit_backend_schemes() -> list[str]:
    """Named in the error raised for a URL no backend accepts."""
    return ["postgresql"]
