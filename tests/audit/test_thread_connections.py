"""Threads that come and go leave no store connections behind.

A server's request threads come and go (anyio ends a worker thread idle for 10 s; a backfill's
pool ends with the backfill). The PostgreSQL store opens one connection per thread and closes it
when the thread ends; the SQLite store shares a few per process among its threads. A connection
kept for every thread that ever ran holds its open files and page cache (SQLite) or a server
session (PostgreSQL) for as long as the process lives: a server that runs for months would run
out of them. Counted from outside the backend: this process's open files on the SQLite store,
the PostgreSQL server's sessions on the store's database, the resident size.
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


def test_sqlite_threads_that_come_and_go_leave_no_connections_open(
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


SQLITE_CACHES_OF_64_THREADS = """
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
together = threading.Barrier(65)

def read_everything():
    together.wait(timeout=60)  # as a worker's 64 run threads: all reading at once
    backend.query_one("SELECT sum(length(params)) FROM releases")  # every page
    together.wait(timeout=120)  # all 64 threads still alive when the size is read
    together.wait(timeout=60)

before = rss_kib()
threads = [threading.Thread(target=read_everything) for _ in range(64)]
for thread in threads:
    thread.start()
together.wait(timeout=60)
together.wait(timeout=120)
print(rss_kib() - before)
together.wait(timeout=60)
"""


def test_sqlite_store_read_by_64_threads_keeps_a_few_small_page_caches(tmp_path: Path) -> None:
    """A worker runs 64 runs at once on threads of its own. With a connection per thread and
    SQLite's default cache (2 MB each) they held 64 caches of a large store; a connection per
    thread at 256 KiB still held 16 MiB. The store's few shared connections, 256 KiB each,
    hold a few MiB at most."""
    import subprocess
    import sys

    shown = subprocess.run(
        [sys.executable, "-c", SQLITE_CACHES_OF_64_THREADS, str(tmp_path / "audit.db")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert shown.returncode == 0, shown.stderr
    grown_kib = int(shown.stdout)
    assert grown_kib < 8 * 1024, f"64 threads reading took {grown_kib:,} KiB"
