"""The runwright entry point of this distribution: the ``postgresql://`` audit backend.

psycopg is imported only when a ``postgresql://`` store is opened, so every other command
(``runwright --help``, runs on another store) does not pay for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from runwright import hookimpl

if TYPE_CHECKING:
    from runwright_audit_postgres.backend import PostgresAuditBackend

SCHEMES = frozenset({"postgresql", "postgres"})


@hookimpl
def make_audit_backend(url: str) -> PostgresAuditBackend | None:
    """A backend for ``postgresql://`` (and ``postgres://``) URLs; None for any other scheme."""
    if url.split("://", 1)[0].lower() not in SCHEMES:
        return None
    from runwright_audit_postgres.backend import PostgresAuditBackend

    return PostgresAuditBackend(url)


@hookimpl
def audit_backend_schemes() -> list[str]:
    """Named in the error raised for a URL no backend accepts."""
    return ["postgresql"]
