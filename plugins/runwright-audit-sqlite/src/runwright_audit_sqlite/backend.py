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
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

from runwright.audit import (
    ACTIVE_STATUSES,
    BLOCKING_STATUSES,
    ConnectionPool,
    Lease,
    LeaseRequest,
    LeaseState,
    ListPosition,
    LogLine,
    ReleaseRecord,
    ReleaseStatus,
    RunQuery,
    WorkflowPause,
    check_search_text,
    check_update_target,
    json_text,
    lease_decision,
    like_pattern,
    log_words,
    preempt_reason,
    preempted,
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
    labels          TEXT    NOT NULL DEFAULT '{}',  -- JSON object
    tags            TEXT    NOT NULL DEFAULT '[]',  -- JSON array
    origin          TEXT,
    PRIMARY KEY (workflow, release, attempt)
);
CREATE INDEX IF NOT EXISTS releases_status ON releases (status);
CREATE INDEX IF NOT EXISTS releases_started ON releases (started);
CREATE INDEX IF NOT EXISTS releases_workflow_started ON releases (workflow, started);
CREATE TABLE IF NOT EXISTS paused_workflows (
    workflow  TEXT NOT NULL PRIMARY KEY,
    paused_at TEXT NOT NULL,
    by        TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS leases (
    resource      TEXT    NOT NULL,
    holder        TEXT    NOT NULL,
    state         TEXT    NOT NULL,  -- 'held' or 'waiting'
    weight        INTEGER NOT NULL,
    position      INTEGER NOT NULL,  -- queue order across the store
    run_id        TEXT    NOT NULL,
    workflow      TEXT    NOT NULL,
    expires       TEXT    NOT NULL,  -- UTC ISO with microseconds
    cancel_reason TEXT,
    PRIMARY KEY (resource, holder)
);
CREATE INDEX IF NOT EXISTS leases_holder ON leases (holder);
"""
ACTIVE = tuple(sorted(status.value for status in ACTIVE_STATUSES))
ACTIVE_SQL = "status IN ('" + "', '".join(ACTIVE) + "')"
LEASE_COLUMNS = (
    "resource", "holder", "state", "weight", "position", "run_id", "workflow", "expires", "cancel_reason",
)  # fmt: skip
LEASE_SELECT = f"SELECT {', '.join(LEASE_COLUMNS)} FROM leases"
LEASE_ORDER = " ORDER BY resource, state = 'waiting', position"


def lease_from_row(row: tuple[Any, ...]) -> Lease:
    return Lease.model_validate(dict(zip(LEASE_COLUMNS, row, strict=True)))


COLUMNS = (
    "workflow", "release", "attempt", "run_id", "type", "parent_run_id", "status", "params",
    "context", "errors", "started", "ended", "host", "pid", "heartbeat", "definition_hash",
    "secret_params", "labels", "tags", "origin",
)  # fmt: skip
JSON_COLUMNS = frozenset({"params", "context", "errors", "secret_params", "labels", "tags"})
ADDED_COLUMNS = {  # columns newer than the first schema: added to older databases on open
    "secret_params": "ALTER TABLE releases ADD COLUMN secret_params TEXT NOT NULL DEFAULT '{}'",
    "labels": "ALTER TABLE releases ADD COLUMN labels TEXT NOT NULL DEFAULT '{}'",
    "tags": "ALTER TABLE releases ADD COLUMN tags TEXT NOT NULL DEFAULT '[]'",
    "origin": "ALTER TABLE releases ADD COLUMN origin TEXT",
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
CONNECTIONS_PER_PROCESS = 8
"""Connections a process keeps open to the store for records (its threads take turns: SQLite
reads take a millisecond or two, and writes wait for this process's writer lock anyway)."""
LEASE_CONNECTIONS_PER_PROCESS = 4
"""And for leases (``synchronous=NORMAL``), renewed every second by each process's heartbeats."""
PAGE_CACHE_KIB = 256
"""SQLite's page cache per connection (its default is 2,000 KiB): the caches grow with the
database towards their bound, which a process with a connection per thread (a worker's 64 run
threads, before the pool) reached only after months. A write touches a few pages; reads of a
large store come from the operating system's file cache."""


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
    """Audit records in one SQLite table; a few connections per process, shared by its threads."""

    def __init__(self, url: str, relative_to: Path | None = None) -> None:
        self.path, self.timeout = path_from_url(url, relative_to)
        query = url.partition("?")[2]
        self.url = f"{SCHEME}:///{self.path}" + (f"?{query}" if query else "")  # absolute: one store for all
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.resolved_path = self.path.resolve()
        self._connections = ConnectionPool(self._open_connection, CONNECTIONS_PER_PROCESS, self.timeout)
        self._lease_connections = ConnectionPool(
            lambda: self._open_connection("NORMAL"), LEASE_CONNECTIONS_PER_PROCESS, self.timeout
        )
        self._initialise()

    def _initialise(self) -> None:
        """Switch to WAL and create the table, retrying while another process does the same.

        Changing the journal mode of a new database can answer "locked" at once, without
        waiting on ``busy_timeout``, when several processes open it together.
        """
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                with self.using() as connection:
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

    def using(self, synchronous: str = "FULL") -> AbstractContextManager[sqlite3.Connection]:
        """A connection of this process's pool for the block (the same one again inside it),
        opened on first use (again after ``close`` or a fork); one pool per ``synchronous`` level
        (records FULL, leases NORMAL: see :meth:`lease_transaction`)."""
        return (self._lease_connections if synchronous == "NORMAL" else self._connections).connection()

    def _open_connection(self, synchronous: str = "FULL") -> sqlite3.Connection:
        connection = sqlite3.connect(
            self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False
        )
        connection.execute(f"PRAGMA busy_timeout={int(self.timeout * 1000)}")
        connection.execute(f"PRAGMA synchronous={synchronous}")
        connection.execute(f"PRAGMA cache_size=-{PAGE_CACHE_KIB}")
        return connection

    @contextmanager
    def lease_transaction(self) -> Iterator[sqlite3.Cursor]:
        """A write transaction without the fsync of ``synchronous=FULL``: leases are renewed
        every second and expire on their own, so losing the last few to a power cut is safe
        (every process holding them died with it); records keep FULL."""
        with self.transaction("NORMAL") as cursor:
            yield cursor

    @contextmanager
    def transaction(self, synchronous: str = "FULL") -> Iterator[sqlite3.Cursor]:
        """``BEGIN IMMEDIATE`` takes the write lock up front, so the transaction never deadlocks."""
        with self.using(synchronous) as connection:
            cursor = connection.cursor()
            with writer_lock(self.resolved_path):
                cursor.execute("BEGIN IMMEDIATE")
                try:
                    yield cursor
                    cursor.execute("COMMIT")
                except BaseException:
                    # some errors make SQLite roll back by itself; a failed COMMIT does not, and
                    # the connection goes back to the pool for another thread's next use
                    if connection.in_transaction:
                        cursor.execute("ROLLBACK")
                    raise

    def query(self, sql: str, parameters: tuple[Any, ...] | dict[str, Any] = ()) -> list[Any]:
        """The rows of a read (read whole: the connection goes back to the pool)."""
        with self.using() as connection:
            return connection.execute(sql, parameters).fetchall()

    def query_one(self, sql: str, parameters: tuple[Any, ...] | dict[str, Any] = ()) -> Any:
        """The first row of a read, or None."""
        with self.using() as connection:
            return connection.execute(sql, parameters).fetchone()

    def write(
        self, sql: str, parameters: tuple[Any, ...] | dict[str, Any] = (), synchronous: str = "FULL"
    ) -> int:
        """One autocommitted write, after this process's other writers (see the module doc); the
        number of rows it changed."""
        with self.using(synchronous) as connection, writer_lock(self.resolved_path):
            return connection.execute(sql, parameters).rowcount

    def exists(self, run_id: str) -> bool:
        return self.query_one("SELECT 1 FROM releases WHERE run_id = ?", (run_id,)) is not None

    # -- the AuditBackend protocol ----------------------------------------------------------

    def claim(self, record: ReleaseRecord) -> bool:
        """INSERT; a primary-key conflict means another process claimed this attempt first."""
        row = to_row(record)
        key = (row["workflow"], row["release"], row["attempt"])
        taken = "SELECT 1 FROM releases WHERE workflow = ? AND release = ? AND attempt = ?"
        if self.query_one(taken, key):
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
            match += f" AND {ACTIVE_SQL}"
        if self.write(f"UPDATE releases SET {changes} WHERE run_id = :run_id AND {match}", row) == 0:
            check_update_target(self.get(record.run_id), record)
            return False  # it was no longer RUNNING
        return True

    def latest_release(self, workflow: str) -> datetime | None:
        row = self.query_one("SELECT MAX(release) FROM releases WHERE workflow = ?", (workflow,))
        return datetime.fromisoformat(row[0]) if row and row[0] else None

    def heartbeat(self, run_id: str, at: datetime) -> None:
        """Refresh the heartbeat of an active record; finished records are left alone."""
        changed = self.write(
            f"UPDATE releases SET heartbeat = ? WHERE run_id = ? AND {ACTIVE_SQL}", (timestamp(at), run_id)
        )
        if changed == 0 and not self.exists(run_id):
            raise KeyError(f"no audit record with run id {run_id!r}")

    def get(self, run_id: str) -> ReleaseRecord | None:
        row = self.query_one(f"{SELECT} WHERE run_id = ?", (run_id,))
        return from_row(row) if row is not None else None

    def attempts(self, workflow: str, release: datetime) -> list[ReleaseRecord]:
        rows = self.query(
            f"{SELECT} WHERE workflow = ? AND release = ? ORDER BY attempt", (workflow, timestamp(release))
        )
        return [from_row(row) for row in rows]

    def list(
        self,
        workflow: str | None = None,
        status: ReleaseStatus | None = None,
        since: datetime | None = None,
        limit: int | None = None,
        after: ListPosition | None = None,
    ) -> list[ReleaseRecord]:
        return self.find(RunQuery(workflow=workflow, status=status, started_from=since), limit, after)

    def mark_crashed(self, run_id: str, reason: str) -> bool:
        """One compare-and-set UPDATE: only a row still active changes, and rowcount says so."""
        error = json.dumps({"name": "Crashed", "message": reason})
        changed = self.write(
            "UPDATE releases SET status = ?, ended = COALESCE(ended, ?),"
            " errors = json_insert(errors, '$[#]', json(?))"
            f" WHERE run_id = ? AND {ACTIVE_SQL}",
            (ReleaseStatus.CRASHED.value, timestamp(utc_now()), error, run_id),
        )
        return changed == 1

    # -- leases (docs/concurrency.md) ------------------------------------------------------

    def acquire_lease(self, request: LeaseRequest, ttl: timedelta) -> LeaseState:
        """Drop expired leases, preempt, decide and store, in one write transaction."""
        now = utc_now()
        with self.lease_transaction() as cursor:
            cursor.execute(
                "DELETE FROM leases WHERE resource = ? AND expires < ?", (request.resource, timestamp(now))
            )
            rows = cursor.execute(f"{LEASE_SELECT} WHERE resource = ?{LEASE_ORDER}", (request.resource,))
            leases = [lease_from_row(row) for row in rows.fetchall()]
            if request.preempt:
                reason = preempt_reason(request)
                for lease in preempted(leases, request):
                    cursor.execute(
                        "UPDATE leases SET cancel_reason = ? WHERE resource = ? AND holder = ?",
                        (reason, lease.resource, lease.holder),
                    )
                    lease.cancel_reason = reason
            decision = lease_decision(leases, request)
            if decision is LeaseState.REFUSED:
                return decision
            expires = timestamp(now + ttl)
            cursor.execute(
                "INSERT INTO leases (resource, holder, state, weight, position, run_id, workflow, expires)"
                " VALUES (?, ?, ?, ?, (SELECT COALESCE(MAX(position), 0) + 1 FROM leases), ?, ?, ?)"
                " ON CONFLICT (resource, holder)"
                " DO UPDATE SET state = excluded.state, expires = excluded.expires",
                (
                    request.resource, request.holder, decision.value, request.weight,
                    request.run_id, request.workflow, expires,
                ),
            )  # fmt: skip
        return decision

    def renew_leases(self, holders: Iterable[str], ttl: timedelta) -> dict[str, str]:
        names = list(dict.fromkeys(holders))
        if not names:
            return {}
        marks = ", ".join("?" for _ in names)
        expires = timestamp(utc_now() + ttl)
        with self.lease_transaction() as cursor:
            cursor.execute(f"UPDATE leases SET expires = ? WHERE holder IN ({marks})", (expires, *names))
            rows = cursor.execute(
                f"SELECT holder, cancel_reason FROM leases WHERE holder IN ({marks})"
                " AND cancel_reason IS NOT NULL",
                names,
            ).fetchall()
        return dict(rows)

    def release_lease(self, resource: str, holder: str) -> bool:
        changed = self.write(
            "DELETE FROM leases WHERE resource = ? AND holder = ?", (resource, holder), synchronous="NORMAL"
        )
        return changed == 1

    def list_leases(self, resource: str | None = None) -> list[Lease]:
        sql, parameters = f"{LEASE_SELECT} WHERE expires >= ?", [timestamp(utc_now())]
        if resource is not None:
            sql += " AND resource = ?"
            parameters.append(resource)
        return [lease_from_row(row) for row in self.query(sql + LEASE_ORDER, tuple(parameters))]

    def close(self) -> None:
        """Close every connection this backend opened, in any thread; later calls reopen."""
        self._connections.close_all()
        self._lease_connections.close_all()

    # -- pauses and run search (issue 26) ----------------------------------------------------

    def pause(self, workflow: str, by: str, at: datetime) -> bool:
        """INSERT unless paused already: the row count says whether this call paused it."""
        changed = self.write(
            "INSERT INTO paused_workflows (workflow, paused_at, by) VALUES (?, ?, ?)"
            " ON CONFLICT (workflow) DO NOTHING",
            (workflow, timestamp(at), by),
        )
        return changed == 1

    def unpause(self, workflow: str) -> bool:
        return self.write("DELETE FROM paused_workflows WHERE workflow = ?", (workflow,)) == 1

    def paused(self) -> dict[str, WorkflowPause]:
        rows = self.query("SELECT workflow, paused_at, by FROM paused_workflows")
        return {
            name: WorkflowPause(workflow=name, paused_at=datetime.fromisoformat(at), by=by)
            for name, at, by in rows
        }

    def find(
        self, query: RunQuery, limit: int | None = None, after: ListPosition | None = None
    ) -> list[ReleaseRecord]:
        """One SELECT: every filter is a WHERE clause (tags and labels through ``json_each``)."""
        if limit is not None and limit < 0:
            raise ValueError("'limit' must not be negative")
        clauses, parameters = where_clauses(query)
        if after is not None:  # row values compare column by column, as ORDER BY sorts
            clauses.append("(started, release, attempt, workflow) < (?, ?, ?, ?)")
            parameters += [timestamp(after.started), timestamp(after.release), after.attempt, after.workflow]
        sql = SELECT + (" WHERE " + " AND ".join(clauses) if clauses else "")
        sql += " ORDER BY started DESC, release DESC, attempt DESC, workflow DESC"
        if limit is not None:
            sql += " LIMIT ?"
            parameters.append(limit)
        return [from_row(row) for row in self.query(sql, tuple(parameters))]

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
        (matches,) = self.query_one(count, (match,))
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
        rows = self.query(sql + where + " ORDER BY l.at DESC, l.id DESC LIMIT ?", (*ordered, max(0, limit)))
        # LOG_COLUMNS are LogLine's fields in its order; the time is stored as text
        return [LogLine(*row[:2], datetime.fromisoformat(row[2]), *row[3:]) for row in rows]


def where_clauses(query: RunQuery) -> tuple[list[str], list[Any]]:
    """The SQL of ``query``'s filters and their parameters (see :meth:`RunQuery.matches`).

    Params and errors are stored as JSON with non-ASCII escaped (``\\u00fc``), so the text is
    looked for both as it is (JSON-escaped) and ASCII-escaped; LIKE ignores ASCII case."""
    clauses: list[str] = []
    parameters: list[Any] = []
    simple = {
        "workflow = ?": query.workflow,
        "status = ?": None if query.status is None else ReleaseStatus(query.status).value,
        "started >= ?": timestamp(query.started_from),
        "started < ?": timestamp(query.started_to),
    }
    for clause, value in simple.items():
        if value is not None:
            clauses.append(clause)
            parameters.append(value)
    for tag in query.tags:
        clauses.append("EXISTS (SELECT 1 FROM json_each(releases.tags) WHERE value = ?)")
        parameters.append(tag)
    for key, value in query.labels:
        clauses.append("EXISTS (SELECT 1 FROM json_each(releases.labels) WHERE key = ? AND value = ?)")
        parameters += [key, value]
    if query.text:
        in_run_id = like_pattern(query.text)
        as_is, ascii_escaped = like_pattern(json_text(query.text)), like_pattern(json.dumps(query.text)[1:-1])
        clauses.append(
            "(run_id LIKE ? ESCAPE '\\' OR params LIKE ? ESCAPE '\\' OR errors LIKE ? ESCAPE '\\'"
            " OR params LIKE ? ESCAPE '\\' OR errors LIKE ? ESCAPE '\\')"
        )
        parameters += [in_run_id, as_is, as_is, ascii_escaped, ascii_escaped]
    return clauses, parameters
