"""A store connection lives as long as the thread that opened it.

A server's request threads come and go (anyio ends a worker thread idle for 10 s; a backfill's
pool ends with the backfill), and the SQLite and PostgreSQL stores open one connection per
thread. A connection kept for every thread that ever ran holds its open files and page cache
(SQLite) or a server session (PostgreSQL) for as long as the process lives: a server that runs
for months would run out of them. Counted from outside the backend: this process's open files
on the SQLite store, the PostgreSQL server's sessions on the store's database.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
from runwright.audit import AuditBackend

from tests.audit.conftest import BASE_TIME, hours, make_record, url_for
from tests.postgres_server import PostgresServer

THREADS = 12
_hours = itertools.count()


def use_from_short_lived_threads(backend: AuditBackend, count: int) -> None:
    """Read and write the store from ``count`` threads, one after another, each ending."""
    failures: list[BaseException] = []

    def work() -> None:
        try:
            record = make_record(release=BASE_TIME + hours(next(_hours)))
            assert backend.claim(record)
            assert backend.get(record.run_id) is not None
        except BaseException as exc:  # handed to the test's thread
            failures.append(exc)

    for _ in range(count):
        thread = threading.Thread(target=work)
        thread.start()
        thread.join(timeout=30)
        assert not thread.is_alive()
        assert not failures, failures


def open_files_on(folder: Path) -> int:
    """This process's open file descriptors on files in ``folder`` (the database and its WAL)."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(folder)):
            count += 1
    return count


def test_sqlite_connections_of_ended_threads_are_closed(
    open_backend: Callable[[str], AuditBackend], tmp_path: Path
) -> None:
    backend = open_backend(url_for("sqlite", tmp_path))
    backend.list(limit=1)  # this thread's connection stays open, as before
    use_from_short_lived_threads(backend, 2)
    before = open_files_on(tmp_path)
    use_from_short_lived_threads(backend, THREADS)
    assert open_files_on(tmp_path) == before
    assert len(backend.list(limit=100)) == THREADS + 2  # the store works on after the closes


def sessions_on(server: PostgresServer, database: str) -> int:
    with psycopg.connect(server.url, autocommit=True) as admin:
        row = admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,),
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_postgres_connections_of_ended_threads_are_closed(
    open_backend: Callable[[str], AuditBackend], postgres_server: PostgresServer
) -> None:
    database = "audit_thread_connections"
    backend = open_backend(postgres_server.database_url(database))
    backend.list(limit=1)
    use_from_short_lived_threads(backend, 2)
    before = sessions_on(postgres_server, database)
    use_from_short_lived_threads(backend, THREADS)
    deadline = time.monotonic() + 10  # a closed session's server process leaves a moment later
    while sessions_on(postgres_server, database) > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sessions_on(postgres_server, database) == before
    assert len(backend.list(limit=100)) == THREADS + 2


SQLITE_CACHES_OF_SIXTEEN_THREADS = """
import sys, threading
from datetime import UTC, datetime, timedelta
from runwright.audit import ReleaseRecord, ReleaseStatus
from runwright_audit_sqlite.backend import SqliteAuditBackend

def rss_kib():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))

backend = SqliteAuditBackend(f"sqlite:///{sys.argv[1]}")
start = datetime(2024, 1, 1, tzinfo=UTC)
backend.claim_many([
    ReleaseRecord(workflow="big", release=start + timedelta(hours=n), run_id=f"run-{n:06d}",
                  status=ReleaseStatus.SUCCESS, params={"blob": f"{n:06d}" * 400})
    for n in range(8_000)
])  # about 20 MB of pages
backend.close()
both_ready = threading.Barrier(17)

def read_everything():
    backend.execute("SELECT sum(length(params)) FROM releases").fetchone()  # every page, once
    both_ready.wait(timeout=60)  # all sixteen connections (and their caches) alive at once
    both_ready.wait(timeout=60)

before = rss_kib()
threads = [threading.Thread(target=read_everything) for _ in range(16)]
for thread in threads:
    thread.start()
both_ready.wait(timeout=60)
print(rss_kib() - before)
both_ready.wait(timeout=60)
"""


def test_sqlite_connections_of_many_threads_keep_a_small_page_cache_each(tmp_path: Path) -> None:
    """A worker's 64 run threads each hold a connection: at SQLite's default (2 MB of cache
    each) sixteen threads that read a 20 MB store hold 32 MB of it; runwright keeps 256 KiB."""
    import subprocess
    import sys

    shown = subprocess.run(
        [sys.executable, "-c", SQLITE_CACHES_OF_SIXTEEN_THREADS, str(tmp_path / "audit.db")],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert shown.returncode == 0, shown.stderr
    grown_kib = int(shown.stdout)
    assert grown_kib < 16 * 1024, f"16 connections took {grown_kib:,} KiB"
