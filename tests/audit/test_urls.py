"""Choosing a backend by URL: schemes, relative and absolute paths, the default, errors."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pluggy
import pytest
from runwright.audit import AuditBackend, ReleaseStatus, make_audit_backend
from runwright.errors import RunwrightError
from runwright.plugins import describe_plugins
from runwright_audit_file import FileAuditBackend
from runwright_audit_sqlite import SqliteAuditBackend

from tests.audit.conftest import make_record


def test_unknown_scheme_lists_the_installed_backends(plugin_manager: pluggy.PluginManager) -> None:
    with pytest.raises(RunwrightError) as caught:
        make_audit_backend("mysql://x", pm=plugin_manager)
    message = str(caught.value)
    assert "mysql://x" in message
    assert "file://" in message and "sqlite://" in message


def test_plugins_are_registered_by_their_distributions(plugin_manager: pluggy.PluginManager) -> None:
    provided = {
        info.distribution: info.provides.get("audit backends") for info in describe_plugins(plugin_manager)
    }
    assert provided["runwright-audit-file"] == ["file"]
    assert provided["runwright-audit-sqlite"] == ["sqlite"]


def test_default_url_is_a_file_store_in_the_state_folder_beside_the_conf_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RUNWRIGHT_AUDIT_URL", raising=False)
    backend = make_audit_backend()  # the process-wide runtime: entry points, as in production
    assert isinstance(backend, FileAuditBackend)
    assert backend.root == tmp_path / ".runwright" / "audits"  # ./conf is the default conf path
    assert backend.claim(make_record())
    assert list((tmp_path / ".runwright" / "audits").glob("*/*/attempt-1.json"))
    elsewhere = make_audit_backend(conf_path=tmp_path / "flows" / "conf")
    assert isinstance(elsewhere, FileAuditBackend)
    assert elsewhere.root == tmp_path / "flows" / ".runwright" / "audits"


def test_environment_variable_chooses_the_backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNWRIGHT_AUDIT_URL", f"sqlite:///{tmp_path}/from-env.db")
    backend = make_audit_backend()
    try:
        assert isinstance(backend, SqliteAuditBackend)
        assert backend.path == tmp_path / "from-env.db"
    finally:
        backend.close()


@pytest.mark.parametrize(
    ("url", "folder"),
    [
        ("file://./audits", "audits"),
        ("file://./nested/audits/", "nested/audits"),
        ("file://relative-too", "relative-too"),
        ("FILE://./upper", "upper"),
    ],
)
def test_relative_file_urls(
    url: str,
    folder: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    open_backend: Callable[[str], AuditBackend],
) -> None:
    monkeypatch.chdir(tmp_path)  # the state folder of the default conf path ./conf: ./.runwright
    backend = open_backend(url)
    assert isinstance(backend, FileAuditBackend)
    state = tmp_path / ".runwright"
    assert backend.root == state / folder  # relative to the state folder, not the current directory
    assert backend.url == f"file://{state / folder}"
    monkeypatch.chdir("/")  # resolved once, when made: a later chdir does not move the store
    assert backend.claim(make_record())
    assert (state / folder / "_runs").is_dir()


def test_absolute_file_url(tmp_path: Path, open_backend: Callable[[str], AuditBackend]) -> None:
    backend = open_backend(f"file://{tmp_path}/abs")
    assert isinstance(backend, FileAuditBackend) and backend.root == tmp_path / "abs"
    assert open_backend(f"file://localhost{tmp_path}/abs").root == tmp_path / "abs"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("url", "relative_path"),
    [
        ("sqlite:///audit.db", "audit.db"),
        ("sqlite:///./audit.db", "audit.db"),
        ("sqlite:///data/audit.db", "data/audit.db"),  # three slashes: relative, as SQLAlchemy
    ],
)
def test_relative_sqlite_urls(
    url: str,
    relative_path: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    open_backend: Callable[[str], AuditBackend],
) -> None:
    monkeypatch.chdir(tmp_path)  # the state folder of the default conf path ./conf: ./.runwright
    backend = open_backend(url)
    assert isinstance(backend, SqliteAuditBackend)
    state = tmp_path / ".runwright"
    assert backend.path == state / relative_path  # relative to the state folder, not the cwd
    assert backend.url == f"sqlite:///{state / relative_path}"
    assert (state / relative_path).is_file()


def test_absolute_sqlite_url_has_four_slashes(
    tmp_path: Path, open_backend: Callable[[str], AuditBackend]
) -> None:
    url = f"sqlite:///{tmp_path}/abs.db"
    assert url.startswith("sqlite:////")
    backend = open_backend(url)
    assert isinstance(backend, SqliteAuditBackend) and backend.path == tmp_path / "abs.db"


def test_sqlite_store_is_in_wal_mode_with_the_expected_schema(
    tmp_path: Path, open_backend: Callable[[str], AuditBackend]
) -> None:
    open_backend(f"sqlite:///{tmp_path}/audit.db")
    connection = sqlite3.connect(tmp_path / "audit.db")
    try:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        indexes = {row[1] for row in connection.execute("PRAGMA index_list(releases)")}
        unique = {row[1] for row in connection.execute("PRAGMA index_list(releases)") if row[2]}
    finally:
        connection.close()
    assert {"releases_status", "releases_started"} <= indexes
    assert len(unique) == 2  # the primary key (workflow, release, attempt) and run_id


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///", "sqlite:///:memory:", "file://", "file:///"])
def test_urls_naming_no_store_are_refused(url: str, plugin_manager: pluggy.PluginManager) -> None:
    with pytest.raises(ValueError):
        make_audit_backend(url, pm=plugin_manager)


def test_sqlite_backend_shares_a_few_connections_among_its_threads(
    tmp_path: Path, open_backend: Callable[[str], AuditBackend]
) -> None:
    """Forty threads at once claim, read and update through one backend: every claim is won
    once, and the process opens no more connections than its pool holds (a connection per
    thread kept a page cache for each of a worker's run and job threads)."""
    import threading
    import uuid

    from runwright_audit_sqlite.backend import CONNECTIONS_PER_PROCESS

    backend = open_backend(f"sqlite:///{tmp_path}/threads.db")
    assert isinstance(backend, SqliteAuditBackend)
    opened: list[int] = []
    open_connection = backend._open_connection

    def counted() -> sqlite3.Connection:
        opened.append(1)
        return open_connection()

    backend.close()
    backend._connections._connect = counted  # type: ignore[attr-defined]
    claimed: list[bool] = []
    all_started = threading.Barrier(40)

    def work() -> None:
        all_started.wait(10)
        # uuid, not threading.get_ident(): an ident is reused once its thread exits
        record = make_record(workflow=f"thread-{uuid.uuid4().hex}")
        claimed.append(backend.claim(record))
        assert backend.get(record.run_id) is not None
        done = record.model_copy(update={"status": ReleaseStatus.SUCCESS})
        claimed.append(backend.update(done, expect_running=True))

    threads = [threading.Thread(target=work) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert claimed == [True] * 80
    assert 1 <= len(opened) <= CONNECTIONS_PER_PROCESS
    assert {record.status for record in backend.list()} == {ReleaseStatus.SUCCESS}
    backend.close()
    assert len(backend.list()) == 40  # after close, the next call opens a new connection
