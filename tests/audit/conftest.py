"""Fixtures for the audit-backend conformance suite: every test runs against each backend.

Backends are always made through ``runwright.audit.make_audit_backend(url)`` with a plugin
manager that loaded the ``runwright`` entry points, so the tests also prove that the installed
distributions register themselves.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pluggy
import pytest
from runwright.audit import AuditBackend, ReleaseRecord, make_audit_backend
from runwright.config import Settings
from runwright.plugins import ENTRY_POINT_GROUP, get_plugin_manager

from tests.postgres_server import PostgresServer, require_postgres_binaries, start_postgres

BACKEND_KINDS = ("file", "sqlite", "postgres")
PLUGIN_MODULES = (
    "runwright_audit_file.plugin",
    "runwright_audit_sqlite.plugin",
    "runwright_audit_postgres.plugin",
)
BASE_TIME = datetime(2024, 5, 1, tzinfo=UTC)


def url_for(kind: str, folder: Path) -> str:
    """An absolute URL for a store inside ``folder`` (sqlite: four slashes = absolute)."""
    if kind == "file":
        return f"file://{folder / 'audits'}"
    return f"sqlite:///{folder / 'audit.db'}"


@pytest.fixture(scope="session")
def plugin_manager() -> pluggy.PluginManager:
    """One manager with entry points loaded (building it costs ~0.4 s, so once per session)."""
    installed = {entry_point.value for entry_point in entry_points(group=ENTRY_POINT_GROUP)}
    missing = sorted(set(PLUGIN_MODULES) - installed)
    assert not missing, (
        f"audit plugins not installed: {missing}; run `uv pip install -e plugins/runwright-audit-file "
        "-e plugins/runwright-audit-sqlite` (or add them to the root pyproject's dependencies)"
    )
    settings = Settings.from_env()
    assert not settings.plugins.disable_plugin_autoload, "the audit tests need the entry-point plugins"
    return get_plugin_manager(settings)


@pytest.fixture(params=BACKEND_KINDS)
def backend_kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One real PostgreSQL on 127.0.0.1 for the session (initdb + pg_ctl in a temp dir)."""
    require_postgres_binaries()
    server = start_postgres()
    yield server
    server.stop()


@pytest.fixture
def audit_url(backend_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A new, empty store of the kind: a folder, a SQLite file, or a new PostgreSQL database."""
    if backend_kind == "postgres":
        server: PostgresServer = request.getfixturevalue("postgres_server")
        return server.database_url(f"audit_{uuid.uuid4().hex[:16]}")
    return url_for(backend_kind, tmp_path)


@pytest.fixture
def open_backend(plugin_manager: pluggy.PluginManager) -> Iterator[Callable[[str], AuditBackend]]:
    """Make backends by URL; every one made is closed after the test."""
    made: list[AuditBackend] = []

    def open_(url: str) -> AuditBackend:
        backend = make_audit_backend(url, pm=plugin_manager)
        made.append(backend)
        return backend

    yield open_
    for backend in made:
        backend.close()


@pytest.fixture
def backend(open_backend: Callable[[str], AuditBackend], audit_url: str) -> AuditBackend:
    return open_backend(audit_url)


_run_numbers = itertools.count(1)


def make_record(
    workflow: str = "daily-sales",
    release: datetime = BASE_TIME,
    attempt: int = 1,
    **fields: Any,
) -> ReleaseRecord:
    """A RUNNING record with a fresh run id; ``fields`` override anything else."""
    values: dict[str, Any] = {"run_id": f"run-{next(_run_numbers):06d}"}
    values.update(fields)
    return ReleaseRecord(workflow=workflow, release=release, attempt=attempt, **values)


def hours(n: float) -> timedelta:
    return timedelta(hours=n)
