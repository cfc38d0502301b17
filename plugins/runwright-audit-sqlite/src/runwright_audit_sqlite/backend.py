"""The ``sqlite://`` audit backend: one table in one SQLite database, WAL mode.

URLs follow SQLAlchemy: ``sqlite:////abs/path.db`` (four slashes) is absolute,
``sqlite:///relative.db`` and ``sqlite:///./relative.db`` are relative to the current directory
when the backend is made. ``?timeout=<seconds>`` sets how long a writer waits for the lock
(default 30).

Why it is safe across processes: the primary key (workflow, release, attempt) makes a second
``INSERT`` of the same attempt fail, so ``claim`` has exactly one winner; ``claim_next_attempt``
reads the attempts and inserts N+1 in one ``BEGIN IMMEDIATE`` transaction; ``mark_crashed`` is
one ``UPDATE ... WHERE status = 'RUNNING'`` whose row count says whether it won; every other
write is a single statement. WAL lets readers run while one process writes; ``synchronous=FULL``
makes a won claim survive power loss, not only a killed process.

Why writers of one process queue on a Python lock first: SQLite's busy handler waits for the
write lock by sleeping with a growing back-off (up to 100 ms a try), so 50 threads of one server
writing at once spent most of their time asleep (p99 of a trigger: seconds). Threads of one
process take turns on ``writer_lock`` instead, and only other processes meet the busy handler.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

from runwright.audit import (
    BLOCKING_STATUSES,
    ListPosition,
    LogLine,
    ReleaseRecord,
    ReleaseStatus,
    check_search_text,
    check_update_target,
    log_words,
    utc_now,
)

from runwright_audit_sqlite.plugin import SCHEME

DEFAULT_TIMEOUT_SECONDS = 30.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS releases (
    workflow        TEXT    NOT NULL,
    release         TEXT    NOT NULL,  -- UTC ISO with microseconds: sorts as it compares
    attempt         INTEGER NOT NULL,
    run_id          TEXT    NOT NULL UNIQUE,
    type            TEXT    NOT NULL,
    parent_run_id   TEXT,
    status          TEXT    NOT NULL,
    params          TEXT    NOT NULL,  -- JSON object
    context         TEXT    NOT NULL,  -- JSON object
    errors          TEXT    NOT NULL,  -- JSON array
    started         TEXT    NOT NULL,
    ended           TEXT,
    host            TEXT    NOT NULL,
    pid             INTEGER NOT NULL,
    heartbeat       TEXT    NOT NULL,
    definition_hash TEXT    NOT NULL,
    secret_params   TEXT    NOT NULL DEFAULT '{}',  -- JSON object
    PRIMARY KEY (workflow, release, attempt)
);
CREATE INDEX IF NOT EXISTS releases_status ON releases (status);
CREATE INDEX IF NOT EXISTS releases_started ON releases (started);
"""

COLUMNS = (
    "workflow", "release", "attempt", "run_id", "type", "parent_run_id", "status", "params",
    "context", "errors", "started", "ended", "host", "pid", "heartbeat", "definition_hash",
    "secret_params",
)  # fmt: skip
JSON_COLUMNS = frozenset({"params", "context", "errors", "secret_params"})
ADDED_COLUMNS = {  # columns newer than the first schema: added to older databases on open
    "secret_params": "ALTER TABLE releases ADD COLUMN secret_params TEXT NOT NULL DEFAULT '{}'",
}
KEY_COLUMNS = ("workflow", "release", "attempt")
SELECT = f"SELECT {', '.join(COLUMNS)} FROM releases"

# -- pages and log search (issue 26) ------------------------------------------------------------
# one workflow's runs newest first (a workflow's page, its last run) without sorting them all;
# trace lines in a table, their words in an FTS5 index
LOG_SCHEMA = """
CREATE INDEX IF NOT EXISTS releases_workflow_started ON releases (workflow, started, release, attempt);
CREATE TABLE IF NOT EXISTS log_lines (
    id       INTEGER PRIMARY KEY,
    run_id   TEXT NOT NULL,
    workflow TEXT NOT NULL,
    at       TEXT NOT NULL,  -- UTC ISO with microseconds, as timestamp() writes
    event    TEXT NOT NULL,
    message  TEXT NOT NULL,
    job      TEXT,
    strategy TEXT,
    stage    TEXT
);
CREATE INDEX IF NOT EXISTS log_lines_workflow_at ON log_lines (workflow, at);
CREATE INDEX IF NOT EXISTS log_lines_at ON log_lines (at);
CREATE VIRTUAL TABLE IF NOT EXISTS log_words USING fts5(
    words, content='', tokenize='unicode61 remove_diacritics 0'
)
"""
LOG_COLUMNS = ("run_id", "workflow", "at", "event", "message", "job", "strategy", "stage")
FEW_MATCHES = 2_000


def path_from_url(url: str, relative_to: Path | None = None) -> tuple[Path, float]:
    """The database path and lock timeout of ``sqlite:///relative`` / ``sqlite:////absolute``.

    A relative path is read against ``relative_to`` (the state folder, when runwright makes the
    backend), else the current directory.
    """
    if not url.lower().startswith(f"{SCHEME}:///"):
        raise ValueError(
            f"not a sqlite audit URL: {url!r} (use sqlite:///relative.db or sqlite:////abs/path.db)"
        )
    rest, _, query = url[len(SCHEME) + 4 :].partition("?")
    rest = unquote(rest)
    if not rest or rest == ":memory:":
        raise ValueError(f"sqlite audit URL needs a database file, shared by processes: {url!r}")
    timeout = float(parse_qs(query).get("timeout", [DEFAULT_TIMEOUT_SECONDS])[-1])
    return ((relative_to or Path.cwd()) / Path(rest).expanduser()).resolve(), timeout


def timestamp(moment: datetime | None) -> str | None:
    """Fixed-width UTC text, so ``ORDER BY`` and ``>=`` on the column are chronological."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise ValueError("audit datetimes must be timezone-aware")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def to_row(record: ReleaseRecord) -> dict[str, Any]:
    data = record.model_dump(mode="json")
    for name in ("release", "started", "ended", "heartbeat"):
        data[name] = timestamp(getattr(record, name))
    for name in JSON_COLUMNS:
        data[name] = json.dumps(data[name], separators=(",", ":"))
    return data


def from_row(row: tuple[Any, ...]) -> ReleaseRecord:
    data = dict(zip(COLUMNS, row, strict=True))
    for name in JSON_COLUMNS:
        data[name] = json.loads(data[name])
    return ReleaseRecord.model_validate(data)


WRITER_LOCKS: dict[tuple[int, Path], threading.Lock] = {}
WRITER_LOCKS_GUARD = threading.Lock()


def writer_lock(path: Path) -> threading.Lock:
    """The lock this process's writers of ``path`` (resolved) take turns on (a new one after a fork)."""
    key = (os.getpid(), path)
    with WRITER_LOCKS_GUARD:
        return WRITER_LOCKS.setdefault(key, threading.Lock())


class SqliteAuditBackend:
    """Audit records in one SQLite table; one connection per thread (and per forked process)."""

    def __init__(self, url: str, relative_to: Path | None = None) -> None:
        self.path, self.timeout = path_from_url(url, relative_to)
        query = url.partition("?")[2]
        self.url = f"{SCHEME}:///{self.path}" + (f"?{query}" if query else "")  # absolute: one store for all
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.resolved_path = self.path.resolve()
        self._local = threading.local()
        self._opened: list[sqlite3.Connection] = []
        self._opened_lock = threading.Lock()
        self._generation = 0
        self._initialise()

    def _initialise(self) -> None:
        """Switch to WAL and create the table, retrying while another process does the same.

        Changing the journal mode of a new database can answer "locked" at once, without
        waiting on ``busy_timeout``, when several processes open it together.
        """
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                connection = self.connection()
                if connection.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                    connection.execute("PRAGMA journal_mode=WAL")  # persistent: stored in the file
                with self.transaction() as cursor:
                    for statement in (SCHEMA + LOG_SCHEMA).split(";"):
                        if statement.strip():
                            cursor.execute(statement)
                    present = {row[1] for row in cursor.execute("PRAGMA table_info(releases)")}
                    for column, statement in ADDED_COLUMNS.items():
                        if column not in present:
                            cursor.execute(statement)
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.05)

    def __repr__(self) -> str:
        return f"SqliteAuditBackend({self.url!r} -> {str(self.path)!r})"

    def connection(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use (again after ``close`` or a fork)."""
        local = self._local
        if getattr(local, "key", None) != (os.getpid(), self._generation):
            connection = sqlite3.connect(
                self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False
            )
            connection.execute(f"PRAGMA busy_timeout={int(self.timeout * 1000)}")
            connection.execute("PRAGMA synchronous=FULL")
            local.connection, local.key = connection, (os.getpid(), self._generation)
            with self._opened_lock:
                self._opened.append(connection)
        return local.connection

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Cursor]:
        """``BEGIN IMMEDIATE`` takes the write lock up front, so the transaction never deadlocks."""
        connection = self.connection()
        cursor = connection.cursor()
        with writer_lock(self.resolved_path):
            cursor.execute("BEGIN IMMEDIATE")
            try:
                yield cursor
            except BaseException:
                if connection.in_transaction:  # some errors make SQLite roll back by itself
                    cursor.execute("ROLLBACK")
                raise
            cursor.execute("COMMIT")

    def execute(self, sql: str, parameters: tuple[Any, ...] | dict[str, Any] = ()) -> sqlite3.Cursor:
        """A read, or one autocommitted statement."""
        return self.connection().execute(sql, parameters)

    def write(self, sql: str, parameters: tuple[Any, ...] | dict[str, Any] = ()) -> sqlite3.Cursor:
        """One autocommitted write, after this process's other writers (see the module doc)."""
        connection = self.connection()
        with writer_lock(self.resolved_path):
            return connection.execute(sql, parameters)

    def exists(self, run_id: str) -> bool:
        return self.execute("SELECT 1 FROM releases WHERE run_id = ?", (run_id,)).fetchone() is not None

    # -- the AuditBackend protocol ----------------------------------------------------------

    def claim(self, record: ReleaseRecord) -> bool:
        """INSERT; a primary-key conflict means another process claimed this attempt first."""
        row = to_row(record)
        key = (row["workflow"], row["release"], row["attempt"])
        taken = "SELECT 1 FROM releases WHERE workflow = ? AND release = ? AND attempt = ?"
        if self.execute(taken, key).fetchone():
            return False  # a lock-free read (WAL) spares losers the wait for the write lock
        names = ", ".join(COLUMNS)
        values = ", ".join(f":{name}" for name in COLUMNS)
        with self.transaction() as cursor:
            try:
                cursor.execute(f"INSERT INTO releases ({names}) VALUES ({values})", row)
            except sqlite3.IntegrityError:
                if cursor.execute(taken, key).fetchone():
                    return False
                raise ValueError(f"run id {record.run_id!r} is already recorded") from None
        return True

    def claim_next_attempt(
        self, record: ReleaseRecord, *, unless: Iterable[ReleaseStatus] = BLOCKING_STATUSES
    ) -> ReleaseRecord | None:
        """Read the release's attempts and insert attempt N+1 in one write transaction."""
        blocking = sorted(ReleaseStatus(status).value for status in unless)
        row = to_row(record)
        key = (row["workflow"], row["release"])
        names = ", ".join(COLUMNS)
        values = ", ".join(f":{name}" for name in COLUMNS)
        with self.transaction() as cursor:
            if blocking:
                marks = ", ".join("?" for _ in blocking)
                blocked = cursor.execute(
                    f"SELECT 1 FROM releases WHERE workflow = ? AND release = ? AND status IN ({marks})",
                    (*key, *blocking),
                ).fetchone()
                if blocked:
                    return None
            (highest,) = cursor.execute(
                "SELECT COALESCE(MAX(attempt), 0) FROM releases WHERE workflow = ? AND release = ?", key
            ).fetchone()
            row["attempt"] = highest + 1
            try:
                cursor.execute(f"INSERT INTO releases ({names}) VALUES ({values})", row)
            except sqlite3.IntegrityError:
                raise ValueError(f"run id {record.run_id!r} is already recorded") from None
        return record.model_copy(update={"attempt": highest + 1})

    def claim_many(self, records: list[ReleaseRecord]) -> list[bool]:
        """Every INSERT in one transaction (one fsync); a key conflict is a lost claim."""
        if not records:
            return []
        names = ", ".join(COLUMNS)
        values = ", ".join(f":{name}" for name in COLUMNS)
        sql = (
            f"INSERT INTO releases ({names}) VALUES ({values})"
            " ON CONFLICT (workflow, release, attempt) DO NOTHING"
        )
        won: list[bool] = []
        with self.transaction() as cursor:
            for record in records:
                try:
                    cursor.execute(sql, to_row(record))
                except sqlite3.IntegrityError:
                    raise ValueError(f"run id {record.run_id!r} is already recorded") from None
                won.append(cursor.rowcount == 1)
        return won

    def update(self, record: ReleaseRecord, *, expect_running: bool = False) -> bool:
        """Replace the row with this run id; its (workflow, release, attempt) must not change."""
        row = to_row(record)
        changes = ", ".join(f"{name} = :{name}" for name in COLUMNS if name not in KEY_COLUMNS)
        match = " AND ".join(f"{name} = :{name}" for name in KEY_COLUMNS)
        if expect_running:
            match += f" AND status = '{ReleaseStatus.RUNNING.value}'"
        cursor = self.write(f"UPDATE releases SET {changes} WHERE run_id = :run_id AND {match}", row)
        if cursor.rowcount == 0:
            check_update_target(self.get(record.run_id), record)
            return False  # it was no longer RUNNING
        return True

    def latest_release(self, workflow: str) -> datetime | None:
        row = self.execute("SELECT MAX(release) FROM releases WHERE workflow = ?", (workflow,)).fetchone()
        return datetime.fromisoformat(row[0]) if row and row[0] else None

    def heartbeat(self, run_id: str, at: datetime) -> None:
        """Refresh the heartbeat of a RUNNING record; finished records are left alone."""
        cursor = self.write(
            "UPDATE releases SET heartbeat = ? WHERE run_id = ? AND status = ?",
            (timestamp(at), run_id, ReleaseStatus.RUNNING.value),
        )
        if cursor.rowcount == 0 and not self.exists(run_id):
            raise KeyError(f"no audit record with run id {run_id!r}")

    def get(self, run_id: str) -> ReleaseRecord | None:
        row = self.execute(f"{SELECT} WHERE run_id = ?", (run_id,)).fetchone()
        return from_row(row) if row is not None else None

    def attempts(self, workflow: str, release: datetime) -> list[ReleaseRecord]:
        rows = self.execute(
            f"{SELECT} WHERE workflow = ? AND release = ? ORDER BY attempt",
            (workflow, timestamp(release)),
        ).fetchall()
        return [from_row(row) for row in rows]

    def list(
        self,
        workflow: str | None = None,
        status: ReleaseStatus | None = None,
        since: datetime | None = None,
        limit: int | None = None,
        after: ListPosition | None = None,
    ) -> list[ReleaseRecord]:
        if limit is not None and limit < 0:
            raise ValueError("'limit' must not be negative")
        filters = {
            "workflow = ?": workflow,
            "status = ?": None if status is None else ReleaseStatus(status).value,
            "started >= ?": timestamp(since),
        }
        used = {clause: value for clause, value in filters.items() if value is not None}
        clauses, parameters = list(used), list(used.values())
        if after is not None:  # row values compare column by column, as ORDER BY sorts
            clauses.append("(started, release, attempt, workflow) < (?, ?, ?, ?)")
            parameters += [timestamp(after.started), timestamp(after.release), after.attempt, after.workflow]
        sql = SELECT + (" WHERE " + " AND ".join(clauses) if clauses else "")
        sql += " ORDER BY started DESC, release DESC, attempt DESC, workflow DESC"
        if limit is not None:
            sql += " LIMIT ?"
            parameters.append(limit)
        return [from_row(row) for row in self.execute(sql, tuple(parameters)).fetchall()]

    def mark_crashed(self, run_id: str, reason: str) -> bool:
        """One compare-and-set UPDATE: only a row still RUNNING changes, and rowcount says so."""
        error = json.dumps({"name": "Crashed", "message": reason})
        cursor = self.write(
            "UPDATE releases SET status = ?, ended = COALESCE(ended, ?),"
            " errors = json_insert(errors, '$[#]', json(?))"
            " WHERE run_id = ? AND status = ?",
            (ReleaseStatus.CRASHED.value, timestamp(utc_now()), error, run_id, ReleaseStatus.RUNNING.value),
        )
        return cursor.rowcount == 1

    # -- log search (issue 26) ---------------------------------------------------------------

    def add_log_lines(self, run_id: str, workflow: str, lines: list[LogLine]) -> None:
        """The lines into ``log_lines`` and their words into the FTS5 index, one transaction."""
        if not lines:
            return
        marks = ", ".join("?" for _ in LOG_COLUMNS)
        with self.transaction() as cursor:
            for line in lines:
                cursor.execute(
                    f"INSERT INTO log_lines ({', '.join(LOG_COLUMNS)}) VALUES ({marks})",
                    (
                        run_id,
                        workflow,
                        timestamp(line.time),
                        line.event,
                        line.message,
                        line.job,
                        line.strategy,
                        line.stage,
                    ),
                )
                cursor.execute(
                    "INSERT INTO log_words (rowid, words) VALUES (?, ?)",
                    (cursor.lastrowid, " ".join(log_words(line.message))),
                )

    def search_logs(
        self,
        text: str,
        workflow: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> list[LogLine]:
        """An FTS5 ``MATCH`` of every word (each quoted: a word is never query syntax).

        Few matches (at most :data:`FEW_MATCHES`): read them first and sort them (``CROSS JOIN``
        keeps SQLite from walking every line instead). Many: walk the lines newest first by the
        time index and keep those in the match set, stopping at ``limit`` (sorting 33,000
        matches took 130 ms; the walk 15 to 30 ms)."""
        words = check_search_text(text)
        match = " ".join(f'"{word}"' for word in words)
        clauses: list[str] = []
        parameters: list[Any] = []
        for clause, value in (
            ("l.workflow = ?", workflow),
            ("l.at >= ?", timestamp(since)),
            ("l.at < ?", timestamp(until)),
        ):
            if value is not None:
                clauses.append(clause)
                parameters.append(value)
        columns = ", ".join(f"l.{name}" for name in LOG_COLUMNS)
        count = "SELECT count(*) FROM log_words WHERE log_words MATCH ?"
        (matches,) = self.execute(count, (match,)).fetchone()
        if matches <= FEW_MATCHES:
            sql = (
                f"SELECT {columns} FROM (SELECT rowid AS id FROM log_words WHERE log_words MATCH ?) AS m"
                " CROSS JOIN log_lines AS l ON l.id = m.id"
            )
        else:
            index = "log_lines_workflow_at" if workflow is not None else "log_lines_at"
            sql = f"SELECT {columns} FROM log_lines AS l INDEXED BY {index}"
            clauses.append("l.id IN (SELECT rowid FROM log_words WHERE log_words MATCH ?)")
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        ordered = [match, *parameters] if matches <= FEW_MATCHES else [*parameters, match]
        rows = self.execute(
            sql + where + " ORDER BY l.at DESC, l.id DESC LIMIT ?", (*ordered, max(0, limit))
        ).fetchall()
        # LOG_COLUMNS are LogLine's fields in its order; the time is stored as text
        return [LogLine(*row[:2], datetime.fromisoformat(row[2]), *row[3:]) for row in rows]

    def close(self) -> None:
        """Close every connection this backend opened, in any thread; later calls reopen."""
        with self._opened_lock:
            opened, self._opened = self._opened, []
            self._generation += 1
        for connection in opened:
            connection.close()
