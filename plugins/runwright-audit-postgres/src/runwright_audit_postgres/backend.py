"""The ``postgresql://`` audit backend: one table in PostgreSQL, shared by any number of hosts.

The URL is a libpq connection URI (``postgresql://user:password@host:5432/db?sslmode=...``),
handed to psycopg 3 as it is; ``postgres://`` works too.

Why it is safe across processes and hosts:

- ``claim`` and ``claim_many`` are ``INSERT ... ON CONFLICT DO NOTHING`` on the primary key
  (workflow, release, attempt): exactly one process wins an attempt, and the row count says who.
- ``claim_next_attempt`` takes a transaction-scoped advisory lock on (workflow, release) before it
  reads the attempts, so "attempt N+1 unless one is RUNNING or SUCCESS" is one compare-and-set.
- ``update(expect_running=True)``, ``mark_crashed`` and ``heartbeat`` are single ``UPDATE ...
  WHERE status IN ('QUEUED', 'RUNNING')`` statements whose row count says whether they won.
- ``acquire_lease`` takes a transaction-scoped advisory lock on the resource before it reads the
  resource's leases, so takers of one resource, on any host, decide one after the other. Lease
  times come from the server's clock (``clock_timestamp()``), one clock for every host.
- ``release`` is a ``timestamptz``: records are keyed by the UTC instant, so the repeated hour of
  a clocks-back night holds two distinct releases.

The whole :class:`~runwright.audit.ReleaseRecord` is stored as JSONB beside the columns that are
queried, so a new record field needs no schema change. Schema changes that are needed go through
numbered migrations (``runwright audit migrate``); a fresh database is migrated on first use.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from runwright.audit import (
    ACTIVE_STATUSES,
    BLOCKING_STATUSES,
    Lease,
    LeaseRequest,
    LeaseState,
    ListPosition,
    LogLine,
    ReleaseRecord,
    ReleaseStatus,
    RunQuery,
    ThreadConnections,
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
from runwright.errors import RunwrightError
from runwright.masking import MASKER

CONNECT_TIMEOUT = 10  # seconds: a wrong host is an error, never a hang
TABLE = "runwright_releases"
PAUSED_TABLE = "runwright_paused_workflows"
LEASE_TABLE = "runwright_leases"
VERSION_TABLE = "runwright_schema_version"
#: One lock id for migrations, whatever the database (pg_advisory_xact_lock takes a bigint).
MIGRATION_LOCK = 0x72756E77_72696768  # "runwrigh"

#: Numbered schema steps; ``migrate`` applies those above the stored version, in order.
MIGRATIONS: dict[int, str] = {
    1: f"""
        CREATE TABLE {TABLE} (
            workflow  text        NOT NULL,
            release   timestamptz NOT NULL,
            attempt   integer     NOT NULL CHECK (attempt >= 1),
            run_id    text        NOT NULL UNIQUE,
            status    text        NOT NULL,
            started   timestamptz NOT NULL,
            record    jsonb       NOT NULL,
            PRIMARY KEY (workflow, release, attempt)
        );
        CREATE INDEX {TABLE}_started ON {TABLE} (started DESC);
        CREATE INDEX {TABLE}_workflow_started ON {TABLE} (workflow, started DESC);
        CREATE INDEX {TABLE}_running ON {TABLE} (status) WHERE status = 'RUNNING';
    """,
    # -- pauses and run search (issue 26) --------------------------------------------------
    2: f"""
        CREATE TABLE {PAUSED_TABLE} (
            workflow  text        PRIMARY KEY,
            paused_at timestamptz NOT NULL,
            by        text        NOT NULL
        );
        CREATE INDEX {TABLE}_tags ON {TABLE} USING gin ((record->'tags'));
        CREATE INDEX {TABLE}_labels ON {TABLE} USING gin ((record->'labels'));
    """,
    # -- leases (issue 25) ------------------------------------------------------------------
    3: f"""
        CREATE TABLE {LEASE_TABLE} (
            resource      text        NOT NULL,
            holder        text        NOT NULL,
            state         text        NOT NULL CHECK (state IN ('held', 'waiting')),
            weight        integer     NOT NULL CHECK (weight >= 1),
            position      bigint      GENERATED ALWAYS AS IDENTITY,  -- queue order across the store
            run_id        text        NOT NULL,
            workflow      text        NOT NULL,
            expires       timestamptz NOT NULL,
            cancel_reason text,
            PRIMARY KEY (resource, holder)
        );
        CREATE INDEX {LEASE_TABLE}_holder ON {LEASE_TABLE} (holder);
        DROP INDEX {TABLE}_running;
        CREATE INDEX {TABLE}_active ON {TABLE} (status) WHERE status IN ('QUEUED', 'RUNNING');
    """,
}
# -- log search (issue 26): a run's trace lines with a tsvector of their words (GIN index) ---------
LOG_TABLE = "runwright_log_lines"
MIGRATIONS[4] = f"""
    CREATE TABLE {LOG_TABLE} (
        id        bigserial   PRIMARY KEY,
        run_id    text        NOT NULL,
        workflow  text        NOT NULL,
        at        timestamptz NOT NULL,
        event     text        NOT NULL,
        message   text        NOT NULL,
        job       text,
        strategy  text,
        stage     text,
        words     tsvector    NOT NULL
    );
    CREATE INDEX {LOG_TABLE}_words ON {LOG_TABLE} USING gin (words);
    CREATE INDEX {LOG_TABLE}_workflow_at ON {LOG_TABLE} (workflow, at DESC);
"""
LOG_COLUMNS = ("run_id", "workflow", "at", "event", "message", "job", "strategy", "stage")
LATEST_VERSION = max(MIGRATIONS)

COLUMNS = ("workflow", "release", "attempt", "run_id", "status", "started", "record")
INSERT = f"INSERT INTO {TABLE} ({', '.join(COLUMNS)}) VALUES ({', '.join(['%s'] * len(COLUMNS))})"
INSERT_UNLESS_TAKEN = INSERT + " ON CONFLICT (workflow, release, attempt) DO NOTHING"
SELECT_RECORD = f"SELECT record FROM {TABLE}"
ACTIVE_SQL = "status IN (" + ", ".join(f"'{status.value}'" for status in sorted(ACTIVE_STATUSES)) + ")"
LEASE_COLUMNS = (
    "resource", "holder", "state", "weight", "position", "run_id", "workflow", "expires", "cancel_reason",
)  # fmt: skip
LEASE_SELECT = f"SELECT {', '.join(LEASE_COLUMNS)} FROM {LEASE_TABLE}"
LEASE_ORDER = " ORDER BY resource COLLATE \"C\", state = 'waiting', position"  # "C": code point order
#: Advisory-lock keys of leases are hashes of this prefix and the resource (claims hash other text).
LEASE_LOCK_PREFIX = "runwright lease\n"


class SchemaVersionError(RunwrightError):
    """The database's schema is older or newer than this runwright expects."""


class AuditStoreUnavailable(RunwrightError):
    """The database cannot be reached (a clear one-line error, not a driver traceback)."""


def _row(record: ReleaseRecord) -> tuple[Any, ...]:
    document = record.model_dump(mode="json")
    return (
        record.workflow,
        record.release,
        record.attempt,
        record.run_id,
        record.status.value,
        record.started,
        json.dumps(document, separators=(",", ":")),
    )


def _record(document: Any) -> ReleaseRecord:
    return ReleaseRecord.model_validate(document)


def _lease(row: tuple[Any, ...]) -> Lease:
    return Lease.model_validate(dict(zip(LEASE_COLUMNS, row, strict=True)))


class PostgresAuditBackend:
    """Audit records in one PostgreSQL table; one autocommit connection per thread and process."""

    def __init__(self, url: str, *, check_schema: bool = True) -> None:
        self.url = url
        try:
            params = conninfo_to_dict(url)
        except psycopg.ProgrammingError as exc:
            raise ValueError(f"not a PostgreSQL connection URL: {exc}") from None
        password = params.get("password")
        if password:
            MASKER.keep(str(password))  # the store outlives any run that opened it
        self._display = make_conninfo(**{k: v for k, v in params.items() if k != "password"})
        self._connections = ThreadConnections(self._open_connection, usable=lambda c: not c.closed)
        self._schema_ok = not check_schema

    def _check_schema(self) -> None:
        """On first use: migrate a fresh database; refuse one of another schema version."""
        version = self.schema_version()
        if version == 0:
            self.migrate()  # a fresh database: nothing to lose, nothing to ask
        elif version > LATEST_VERSION:
            raise SchemaVersionError(
                f"audit store {self._display} has schema version {version}, newer than this "
                f"runwright knows ({LATEST_VERSION}); upgrade runwright"
            )
        elif version < LATEST_VERSION:
            raise SchemaVersionError(
                f"audit store {self._display} has schema version {version}, this runwright needs "
                f"{LATEST_VERSION}: run `runwright audit migrate`"
            )
        self._schema_ok = True

    def __repr__(self) -> str:
        return f"PostgresAuditBackend({self._display!r})"

    # -- connections and schema ------------------------------------------------------------

    def connection(self) -> psycopg.Connection[Any]:
        """This thread's connection (schema checked on first use), opened again after a fork."""
        connection = self._connection()
        if not self._schema_ok:
            self._check_schema()
        return connection

    def _connection(self) -> psycopg.Connection[Any]:
        """This thread's connection (again after a fork, ``close`` or a lost one), closed when the
        thread ends."""
        return self._connections.get()

    def _open_connection(self) -> psycopg.Connection[Any]:
        try:
            return psycopg.connect(self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT)
        except psycopg.OperationalError as exc:
            text = str(exc).strip()
            reason = MASKER.mask(text.splitlines()[0] if text else type(exc).__name__)
            raise AuditStoreUnavailable(f"cannot connect to audit store {self._display}: {reason}") from None

    def schema_version(self) -> int:
        """The stored schema version; 0 for a database runwright never used."""
        connection = self._connection()
        exists = connection.execute("SELECT to_regclass(%s)", (VERSION_TABLE,)).fetchone()
        if exists is None or exists[0] is None:
            return 0
        row = connection.execute(f"SELECT max(version) FROM {VERSION_TABLE}").fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def migrate(self) -> list[int]:
        """Apply every migration above the stored version, under an advisory lock; returns them.

        Several processes may call it together: the lock makes them take turns, and each one
        re-reads the version once it holds the lock.
        """
        applied: list[int] = []
        connection = self._connection()
        with connection.transaction():
            connection.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            connection.execute(f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (version integer NOT NULL)")
            row = connection.execute(f"SELECT max(version) FROM {VERSION_TABLE}").fetchone()
            current = int(row[0]) if row and row[0] is not None else 0
            for version in sorted(v for v in MIGRATIONS if v > current):
                connection.execute(MIGRATIONS[version])
                connection.execute(f"INSERT INTO {VERSION_TABLE} (version) VALUES (%s)", (version,))
                applied.append(version)
        return applied

    def _insert(self, cursor: psycopg.Cursor[Any], record: ReleaseRecord) -> bool:
        try:
            cursor.execute(INSERT_UNLESS_TAKEN, _row(record))
        except psycopg.errors.UniqueViolation:
            raise ValueError(f"run id {record.run_id!r} is already recorded") from None
        return cursor.rowcount == 1

    # -- the AuditBackend protocol ------------------------------------------------------------

    def claim(self, record: ReleaseRecord) -> bool:
        """INSERT unless the (workflow, release, attempt) is taken; the row count says who won."""
        connection = self.connection()
        with connection.transaction(), connection.cursor() as cursor:
            return self._insert(cursor, record)

    def claim_many(self, records: list[ReleaseRecord]) -> list[bool]:
        """Every INSERT in one transaction, sent pipelined (one round trip, not one per record);
        a taken key is a lost claim."""
        if not records:
            return []
        connection = self.connection()
        won: list[bool] = []
        try:
            with connection.transaction(), connection.cursor() as cursor:
                cursor.executemany(
                    INSERT_UNLESS_TAKEN + " RETURNING run_id", [_row(r) for r in records], returning=True
                )
                while True:
                    won.append(cursor.fetchone() is not None)
                    if not cursor.nextset():
                        break
        except psycopg.errors.UniqueViolation as exc:
            raise ValueError(f"a run id is already recorded: {exc.diag.message_detail or exc}") from None
        return won

    def claim_next_attempt(
        self, record: ReleaseRecord, *, unless: Iterable[ReleaseStatus] = BLOCKING_STATUSES
    ) -> ReleaseRecord | None:
        """Attempt max+1 of the release, unless an attempt is in ``unless``; one transaction.

        The advisory lock on (workflow, release) is taken before the attempts are read, so two
        processes deciding about one release take turns and the second sees the first's claim.
        """
        blocking = {ReleaseStatus(status).value for status in unless}
        key = f"{record.workflow}\n{record.release.astimezone(UTC).isoformat()}"
        connection = self.connection()
        with connection.transaction(), connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (key,))
            cursor.execute(
                f"SELECT attempt, status FROM {TABLE} WHERE workflow = %s AND release = %s",
                (record.workflow, record.release),
            )
            rows = cursor.fetchall()
            if any(status in blocking for _, status in rows):
                return None
            claimed = record.model_copy(update={"attempt": max((a for a, _ in rows), default=0) + 1})
            return claimed if self._insert(cursor, claimed) else None

    def update(self, record: ReleaseRecord, *, expect_running: bool = False) -> bool:
        """Replace the row with this run id; its (workflow, release, attempt) must not change."""
        row = _row(record)
        sql = (
            f"UPDATE {TABLE} SET status = %s, started = %s, record = %s"
            " WHERE run_id = %s AND workflow = %s AND release = %s AND attempt = %s"
        )
        if expect_running:
            sql += f" AND {ACTIVE_SQL}"
        cursor = self.connection().execute(
            sql, (row[4], row[5], row[6], record.run_id, record.workflow, record.release, record.attempt)
        )
        if cursor.rowcount == 0:
            check_update_target(self.get(record.run_id), record)
            return False  # it was no longer active
        return True

    def latest_release(self, workflow: str) -> datetime | None:
        row = (
            self.connection()
            .execute(
                f"SELECT record->>'release' FROM {TABLE} WHERE workflow = %s ORDER BY release DESC LIMIT 1",
                (workflow,),
            )
            .fetchone()
        )
        return datetime.fromisoformat(row[0]) if row else None

    def heartbeat(self, run_id: str, at: datetime) -> None:
        """Refresh the heartbeat of an active record; finished records are left alone."""
        if at.tzinfo is None:
            raise ValueError("audit datetimes must be timezone-aware")
        connection = self.connection()
        cursor = connection.execute(
            f"UPDATE {TABLE} SET record = jsonb_set(record, '{{heartbeat}}', to_jsonb(%s::text))"
            f" WHERE run_id = %s AND {ACTIVE_SQL}",
            (at.isoformat(), run_id),
        )
        if cursor.rowcount == 0 and self.get(run_id) is None:
            raise KeyError(f"no audit record with run id {run_id!r}")

    def get(self, run_id: str) -> ReleaseRecord | None:
        row = self.connection().execute(f"{SELECT_RECORD} WHERE run_id = %s", (run_id,)).fetchone()
        return _record(row[0]) if row else None

    def attempts(self, workflow: str, release: datetime) -> list[ReleaseRecord]:
        rows = (
            self.connection()
            .execute(
                f"{SELECT_RECORD} WHERE workflow = %s AND release = %s ORDER BY attempt", (workflow, release)
            )
            .fetchall()
        )
        return [_record(row[0]) for row in rows]

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
        error = json.dumps([{"name": "Crashed", "message": reason}])
        now = utc_now().isoformat()
        cursor = self.connection().execute(
            f"UPDATE {TABLE} SET status = 'CRASHED', record = jsonb_set(jsonb_set(jsonb_set(record,"
            " '{status}', '\"CRASHED\"'),"
            " '{ended}', CASE WHEN record->>'ended' IS NULL THEN to_jsonb(%s::text)"
            " ELSE record->'ended' END),"
            " '{errors}', coalesce(record->'errors', '[]'::jsonb) || %s::jsonb)"
            f" WHERE run_id = %s AND {ACTIVE_SQL}",
            (now, error, run_id),
        )
        return cursor.rowcount == 1

    # -- leases (docs/concurrency.md) ------------------------------------------------------

    def acquire_lease(self, request: LeaseRequest, ttl: timedelta) -> LeaseState:
        """Under the resource's advisory lock: drop expired leases, preempt, decide and store."""
        connection = self.connection()
        with connection.transaction(), connection.cursor() as cursor:
            lock_key = LEASE_LOCK_PREFIX + request.resource
            cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (lock_key,))
            cursor.execute(
                f"DELETE FROM {LEASE_TABLE} WHERE resource = %s AND expires < clock_timestamp()",
                (request.resource,),
            )
            cursor.execute(f"{LEASE_SELECT} WHERE resource = %s{LEASE_ORDER}", (request.resource,))
            leases = [_lease(row) for row in cursor.fetchall()]
            if request.preempt:
                reason = preempt_reason(request)
                chosen = preempted(leases, request)
                if chosen:
                    cursor.execute(
                        f"UPDATE {LEASE_TABLE} SET cancel_reason = %s"
                        " WHERE resource = %s AND holder = ANY(%s)",
                        (reason, request.resource, [lease.holder for lease in chosen]),
                    )
                for lease in chosen:
                    lease.cancel_reason = reason
            decision = lease_decision(leases, request)
            if decision is LeaseState.REFUSED:
                return decision
            cursor.execute(
                f"INSERT INTO {LEASE_TABLE} (resource, holder, state, weight, run_id, workflow, expires)"
                " VALUES (%s, %s, %s, %s, %s, %s, clock_timestamp() + %s)"
                " ON CONFLICT (resource, holder)"
                " DO UPDATE SET state = excluded.state, expires = excluded.expires",
                (
                    request.resource, request.holder, decision.value, request.weight,
                    request.run_id, request.workflow, ttl,
                ),
            )  # fmt: skip
        return decision

    def renew_leases(self, holders: Iterable[str], ttl: timedelta) -> dict[str, str]:
        """One UPDATE of every lease of the holders; it returns those whose cancel was asked."""
        names = list(dict.fromkeys(holders))
        if not names:
            return {}
        cursor = self.connection().execute(
            f"UPDATE {LEASE_TABLE} SET expires = clock_timestamp() + %s WHERE holder = ANY(%s)"
            " RETURNING holder, cancel_reason",
            (ttl, names),
        )
        rows = cursor.fetchall()
        return {holder: reason for holder, reason in rows if reason is not None}

    def release_lease(self, resource: str, holder: str) -> bool:
        cursor = self.connection().execute(
            f"DELETE FROM {LEASE_TABLE} WHERE resource = %s AND holder = %s", (resource, holder)
        )
        return cursor.rowcount == 1

    def list_leases(self, resource: str | None = None) -> list[Lease]:
        sql, parameters = f"{LEASE_SELECT} WHERE expires >= clock_timestamp()", []
        if resource is not None:
            sql += " AND resource = %s"
            parameters.append(resource)
        return [_lease(row) for row in self.connection().execute(sql + LEASE_ORDER, parameters).fetchall()]

    def close(self) -> None:
        """Close every connection this backend opened, in any thread; later calls reopen."""
        self._connections.close_all()

    # -- pauses and run search (issue 26) ----------------------------------------------------

    def pause(self, workflow: str, by: str, at: datetime) -> bool:
        """INSERT unless paused already: the row count says whether this call paused it."""
        if at.tzinfo is None:
            raise ValueError("audit datetimes must be timezone-aware")
        cursor = self.connection().execute(
            f"INSERT INTO {PAUSED_TABLE} (workflow, paused_at, by) VALUES (%s, %s, %s)"
            " ON CONFLICT (workflow) DO NOTHING",
            (workflow, at, by),
        )
        return cursor.rowcount == 1

    def unpause(self, workflow: str) -> bool:
        cursor = self.connection().execute(f"DELETE FROM {PAUSED_TABLE} WHERE workflow = %s", (workflow,))
        return cursor.rowcount == 1

    def paused(self) -> dict[str, WorkflowPause]:
        rows = self.connection().execute(f"SELECT workflow, paused_at, by FROM {PAUSED_TABLE}").fetchall()
        return {name: WorkflowPause(workflow=name, paused_at=at, by=by) for name, at, by in rows}

    def find(
        self, query: RunQuery, limit: int | None = None, after: ListPosition | None = None
    ) -> list[ReleaseRecord]:
        """One SELECT: every filter is a WHERE clause (tags and labels by jsonb containment,
        GIN-indexed; text by ILIKE on the run id and the params' and errors' JSON)."""
        if limit is not None and limit < 0:
            raise ValueError("'limit' must not be negative")
        clauses, parameters = where_clauses(query)
        if after is not None:  # row values compare column by column, as ORDER BY sorts
            clauses.append("(started, release, attempt, workflow) < (%s, %s, %s, %s)")
            parameters += [after.started, after.release, after.attempt, after.workflow]
        sql = SELECT_RECORD + (" WHERE " + " AND ".join(clauses) if clauses else "")
        sql += " ORDER BY started DESC, release DESC, attempt DESC, workflow DESC"
        if limit is not None:
            sql += " LIMIT %s"
            parameters.append(limit)
        return [_record(row[0]) for row in self.connection().execute(sql, parameters).fetchall()]

    # -- log search (issue 26) ---------------------------------------------------------------

    def add_log_lines(self, run_id: str, workflow: str, lines: list[LogLine]) -> None:
        """The lines and their words (``to_tsvector('simple', ...)`` of :func:`log_words`), one
        transaction."""
        if not lines:
            return
        connection = self.connection()
        with connection.transaction(), connection.cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO {LOG_TABLE} ({', '.join(LOG_COLUMNS)}, words)"
                f" VALUES ({', '.join(['%s'] * len(LOG_COLUMNS))}, to_tsvector('simple', %s))",
                [
                    (
                        run_id,
                        workflow,
                        line.time,
                        line.event,
                        line.message,
                        line.job,
                        line.strategy,
                        line.stage,
                        " ".join(log_words(line.message)),
                    )
                    for line in lines
                ],
            )

    def search_logs(
        self,
        text: str,
        workflow: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> list[LogLine]:
        """``words @@ plainto_tsquery('simple', ...)``: every word, whole, any case."""
        words = check_search_text(text)
        clauses = ["words @@ plainto_tsquery('simple', %s)"]
        parameters: list[Any] = [" ".join(words)]
        for clause, value in (("workflow = %s", workflow), ("at >= %s", since), ("at < %s", until)):
            if value is not None:
                clauses.append(clause)
                parameters.append(value)
        rows = (
            self.connection()
            .execute(
                f"SELECT {', '.join(LOG_COLUMNS)} FROM {LOG_TABLE} WHERE {' AND '.join(clauses)}"
                " ORDER BY at DESC, id DESC LIMIT %s",
                (*parameters, max(0, limit)),
            )
            .fetchall()
        )
        # LOG_COLUMNS are LogLine's fields in its order
        return [LogLine(*row[:2], row[2].astimezone(UTC), *row[3:]) for row in rows]


def where_clauses(query: RunQuery) -> tuple[list[str], list[Any]]:
    """The SQL of ``query``'s filters and their parameters (see :meth:`RunQuery.matches`)."""
    clauses: list[str] = []
    parameters: list[Any] = []
    simple = {
        "workflow = %s": query.workflow,
        "status = %s": None if query.status is None else ReleaseStatus(query.status).value,
        "started >= %s": query.started_from,
        "started < %s": query.started_to,
    }
    for clause, value in simple.items():
        if value is not None:
            clauses.append(clause)
            parameters.append(value)
    if query.tags:
        clauses.append("record->'tags' @> %s::jsonb")
        parameters.append(json.dumps(list(query.tags)))
    if query.labels:
        clauses.append("record->'labels' @> %s::jsonb")
        parameters.append(json.dumps(dict(query.labels)))
    if query.text:
        in_json = like_pattern(json_text(query.text))
        clauses.append(
            "(run_id ILIKE %s OR (record->'params')::text ILIKE %s OR (record->'errors')::text ILIKE %s)"
        )
        parameters += [like_pattern(query.text), in_json, in_json]
    return clauses, parameters
