"""The SQLite store's connections: a few per process, shared by its threads one use at a time
(``runwright.audit.ConnectionPool``)."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
from runwright.audit import ConnectionPool, PoolExhausted


class FakeConnection:
    """Stands for a database connection: remembers whether it was closed."""

    def __init__(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True


class HeldInAThread:
    """A connection of ``pool`` taken by a thread of its own and held until :meth:`give_back`."""

    def __init__(self, pool: ConnectionPool[FakeConnection]) -> None:
        self.connection: FakeConnection | None = None
        self.closed_while_held = False
        self._taken, self._release = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._hold, args=(pool,))
        self._thread.start()
        assert self._taken.wait(10)

    def _hold(self, pool: ConnectionPool[FakeConnection]) -> None:
        with pool.connection() as connection:
            self.connection = connection
            self._taken.set()
            self._release.wait(30)
            self.closed_while_held = connection.closed

    def give_back(self) -> None:
        self._release.set()
        self._thread.join(timeout=10)
        assert not self._thread.is_alive()


def test_a_use_inside_a_use_gets_the_same_connection_and_other_threads_another() -> None:
    pool: ConnectionPool[FakeConnection] = ConnectionPool(FakeConnection, size=4, wait_seconds=5)
    elsewhere: list[FakeConnection] = []
    with pool.connection() as outer:
        with pool.connection() as inner:  # a read inside a transaction sees the transaction
            assert inner is outer
        thread = threading.Thread(target=lambda: elsewhere.append(pool.connection().__enter__()))
        thread.start()
        thread.join(timeout=10)
    assert elsewhere and elsewhere[0] is not outer
    with pool.connection() as again:
        assert again is outer  # last in, first out: the warmest cache


def test_a_thread_that_finds_every_connection_taken_waits_then_says_so() -> None:
    pool: ConnectionPool[FakeConnection] = ConnectionPool(FakeConnection, size=1, wait_seconds=0.3)
    holder = HeldInAThread(pool)
    with pytest.raises(PoolExhausted, match=r"all 1 connections to the store stayed in use for 0.3 s"):
        with pool.connection():
            pass
    waiter_got: list[FakeConnection] = []
    waiter = threading.Thread(target=lambda: waiter_got.append(pool.connection().__enter__()))
    waiter.start()  # waits for the holder, then gets its connection
    holder.give_back()
    waiter.join(timeout=10)
    assert waiter_got == [holder.connection]


def test_close_all_closes_idle_connections_at_once_and_those_in_use_when_given_back() -> None:
    pool: ConnectionPool[FakeConnection] = ConnectionPool(FakeConnection, size=4, wait_seconds=5)
    in_use = HeldInAThread(pool)
    with pool.connection() as idle_later:
        assert idle_later is not in_use.connection
    pool.close_all()
    assert idle_later.closed and in_use.connection is not None and not in_use.connection.closed
    in_use.give_back()
    assert not in_use.closed_while_held  # never under a thread's feet
    assert in_use.connection.closed
    with pool.connection() as fresh:
        assert fresh not in (idle_later, in_use.connection) and not fresh.closed


def test_a_forked_child_opens_its_own_connections_and_leaves_the_parents_alone(tmp_path: Path) -> None:
    """SQLite forbids using a connection across a fork, and closing the parent's in the child
    could checkpoint its WAL from the wrong process."""
    pool: ConnectionPool[FakeConnection] = ConnectionPool(FakeConnection, size=1, wait_seconds=5)
    with pool.connection() as parents:
        pass
    report = tmp_path / "child"
    pid = os.fork()
    if pid == 0:  # the child: report, then leave without running pytest's exit handlers
        try:
            with pool.connection() as childs:
                report.write_text(f"{childs is parents} {parents.closed}")
            pool.close_all()
            report.write_text(report.read_text() + f" {parents.closed}")
        finally:
            os._exit(0)
    status = None
    for _ in range(300):  # bounded: 30 s
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.1)
    else:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise AssertionError("the forked child did not finish within 30 s")
    assert os.waitstatus_to_exitcode(status) == 0
    assert report.read_text() == "False False False"
    with pool.connection() as again:
        assert again is parents and not parents.closed


def test_a_thread_waiting_for_a_connection_when_the_pool_is_closed_takes_a_new_one() -> None:
    """``close_all`` (a backend closed, then used again) must not leave a waiting thread on the
    closed connections until its wait runs out."""
    pool: ConnectionPool[FakeConnection] = ConnectionPool(FakeConnection, size=1, wait_seconds=20)
    waited: list[FakeConnection | BaseException] = []

    def wait_for_one() -> None:
        try:
            with pool.connection() as connection:
                waited.append(connection)
        except BaseException as exc:  # handed to the test's thread
            waited.append(exc)

    holder = HeldInAThread(pool)
    waiter = threading.Thread(target=wait_for_one)
    waiter.start()
    waiter.join(timeout=0.3)
    assert waiter.is_alive()  # the only connection is in use: it waits
    pool.close_all()
    waiter.join(timeout=5)  # not the pool's 20 s
    holder.give_back()
    assert len(waited) == 1 and isinstance(waited[0], FakeConnection), waited
    assert holder.connection is not None and waited[0] is not holder.connection and holder.connection.closed


def test_a_sqlite_transaction_whose_commit_fails_leaves_its_pooled_connection_usable(tmp_path: Path) -> None:
    """A COMMIT can fail (a deferred constraint, a full disk) without SQLite rolling back: the
    connection must not go back to the pool still inside the transaction, where the next use
    of any thread would find it."""
    import sqlite3

    from runwright_audit_sqlite.backend import SqliteAuditBackend

    from tests.audit.conftest import make_record

    backend = SqliteAuditBackend(f"sqlite:///{tmp_path / 'audit.db'}")
    with backend.using() as connection:  # a table whose check waits for COMMIT
        connection.execute("PRAGMA foreign_keys = ON")
        connection.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
        connection.execute(
            "CREATE TABLE child (parent INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)"
        )
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
        with backend.transaction() as cursor:
            cursor.execute("INSERT INTO child (parent) VALUES (42)")
    with backend.using() as connection:  # the same connection (last in, first out)
        assert not connection.in_transaction
    record = make_record()
    assert backend.claim(record) and backend.get(record.run_id) == record
    assert backend.query("SELECT * FROM child") == []
