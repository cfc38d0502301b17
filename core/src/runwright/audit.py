"""The audit backend protocol: one record per release, claimed atomically.

Backends are plugins: the ``make_audit_backend(url)`` hook returns one for its URL scheme
(``file://``, ``sqlite://``...), chosen by ``RUNWRIGHT_AUDIT_URL`` (default ``audits/`` in the
state folder, see :mod:`runwright.state`).
A backend must make :meth:`AuditBackend.claim` atomic across processes: that is what makes a
release run exactly once when several schedulers share one store.
"""

from __future__ import annotations

import itertools
import os
import re
import socket
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Generic, NamedTuple, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, field_validator

from runwright.errors import RunwrightError

CRASHED_HEARTBEAT_AGE = timedelta(minutes=2)
"""A RUNNING record whose heartbeat is older than this is taken for dead (runs beat every 10 s)."""


class ReleaseStatus(StrEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    SKIP = "SKIP"
    CANCEL = "CANCEL"
    CRASHED = "CRASHED"


ACTIVE_STATUSES = frozenset({ReleaseStatus.QUEUED, ReleaseStatus.RUNNING})
"""A record with one of these has a live process behind it (waiting for a slot, or running):
it heartbeats, it may be marked CRASHED, and ``update(expect_running=True)`` may replace it."""

BLOCKING_STATUSES = frozenset({ReleaseStatus.QUEUED, ReleaseStatus.RUNNING, ReleaseStatus.SUCCESS})
"""While an attempt of a release has one of these, no new attempt may be claimed (backfill,
rerun, crash re-release): it is waiting, being run, or done."""


class ReleaseType(StrEnum):
    SCHEDULED = "scheduled"
    MANUAL = "manual"
    BACKFILL = "backfill"
    RERUN = "rerun"


def utc_now() -> datetime:
    return datetime.now(UTC)


RECORD_CONFIG = ConfigDict(extra="forbid", cache_strings="keys")
"""Stores parse records from JSON: pydantic's parser would otherwise keep every short value it
meets (run ids, ...) in its process-wide string cache, 16,384 of them, for a server's life."""


class ReleaseRecord(BaseModel):
    """One attempt at one release (workflow, logical date). Secrets are masked before storing."""

    model_config = RECORD_CONFIG

    workflow: str
    release: datetime = Field(description="The logical date of the tick, timezone-aware.")
    attempt: int = Field(1, ge=1, description="1 for the first run of a release; +1 per force/retry.")
    type: ReleaseType = ReleaseType.MANUAL
    run_id: str
    parent_run_id: str | None = None
    status: ReleaseStatus = ReleaseStatus.RUNNING
    params: dict[str, Any] = Field(default_factory=dict)
    context: dict[str, Any] = Field(default_factory=dict)
    errors: list[dict[str, Any]] = Field(default_factory=list)
    started: datetime = Field(default_factory=utc_now)
    ended: datetime | None = None
    host: str = Field(default_factory=socket.gethostname)
    pid: int = Field(default_factory=os.getpid)
    heartbeat: datetime = Field(default_factory=utc_now)
    definition_hash: str = ""
    labels: dict[str, str] = Field(
        default_factory=dict,
        description="Labels given to this run (`runwright run -l team=finance`, the API's 'labels').",
    )
    tags: list[str] = Field(
        default_factory=list, description="The workflow's `tags:` when it was released (filterable)."
    )
    origin: str | None = Field(
        None,
        description=(
            "The door a manual or rerun release came in by: 'cli' or 'api'; "
            "None for scheduled releases and records older than this field."
        ),
    )
    secret_params: dict[str, list[str | dict[str, str]] | None] = Field(
        default_factory=dict,
        description=(
            "For each param whose value held a secret (stored masked in 'params'): how a rerun "
            "gets the value back. A list of parts, each literal text or {'env': NAME} (the "
            "environment variable the secret came from); null when a secret in it came from "
            "elsewhere, so a rerun must be given the param again."
        ),
    )

    @field_validator("release", "started", "ended", "heartbeat")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("datetimes in audit records must be timezone-aware")
        return value

    @property
    def key(self) -> tuple[str, datetime, int]:
        """(workflow, release as a UTC instant, attempt): what identifies a record in every store.

        Compare keys, never ``release`` values: by PEP 495 a local time in a repeated DST hour
        (01:30 in New York on the clocks-back night) is never ``==`` to any time of another
        zone, not even its own UTC instant, while two wall times of one zone that are an hour
        apart compare equal.
        """
        return (self.workflow, self.release.astimezone(UTC), self.attempt)

    @property
    def how_started(self) -> str:
        """How the run started, as the runs list shows it: schedule, backfill, rerun, or for a
        manual run the door it came in by (cli, api; "manual" when not recorded, e.g. Python)."""
        if self.type is ReleaseType.SCHEDULED:
            return "schedule"
        if self.type is ReleaseType.MANUAL:
            return self.origin or "manual"
        return self.type.value

    @property
    def list_position(self) -> ListPosition:
        """Where :meth:`AuditBackend.list` puts this record (it lists by this, descending)."""
        return ListPosition(
            self.started.astimezone(UTC), self.release.astimezone(UTC), self.attempt, self.workflow
        )


class ListPosition(NamedTuple):
    """A record's place in :meth:`AuditBackend.list`: newest ``started`` first; ties by release,
    attempt and workflow, so the order is total and a page can resume strictly after a record."""

    started: datetime
    release: datetime
    attempt: int
    workflow: str


# -- pauses and run search (issue 26): models the protocol's block of the same name uses -----


class WorkflowPause(BaseModel):
    """A paused workflow: no scheduler sharing the store releases its ticks until unpaused."""

    model_config = RECORD_CONFIG

    workflow: str
    paused_at: datetime
    by: str = Field("", description="Who paused it (user@host, or the API).")

    @field_validator("paused_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("datetimes in audit records must be timezone-aware")
        return value


class RunQuery(BaseModel):
    """What the runs list filters on; every filter given must hold (AND). Stores answer it in
    their own query language where they have one (SQLite and PostgreSQL ``WHERE`` clauses)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    workflow: str | None = None
    status: ReleaseStatus | None = None
    started_from: datetime | None = Field(None, description="started >= this")
    started_to: datetime | None = Field(None, description="started < this")
    tags: tuple[str, ...] = Field((), description="The run's workflow had every one of these tags.")
    labels: tuple[tuple[str, str], ...] = Field((), description="The run has every (key, value).")
    text: str | None = Field(
        None,
        max_length=200,
        description="Found, ignoring ASCII case, in the run id, the params or the errors.",
    )

    @field_validator("started_from", "started_to")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("audit datetimes must be timezone-aware")
        return value

    def matches(self, record: ReleaseRecord) -> bool:
        """Whether ``record`` passes every filter (the file store's way; the others' SQL says
        the same: the conformance suite holds them to it)."""
        return (
            (self.workflow is None or record.workflow == self.workflow)
            and (self.status is None or record.status == self.status)
            and (self.started_from is None or record.started >= self.started_from)
            and (self.started_to is None or record.started < self.started_to)
            and all(tag in record.tags for tag in self.tags)
            and all(record.labels.get(key) == value for key, value in self.labels)
            and (not self.text or self.text_in(record))
        )

    def text_in(self, record: ReleaseRecord) -> bool:
        needle = (self.text or "").lower()
        if needle in record.run_id.lower():
            return True
        escaped = json_text(needle)
        return any(escaped in json_text(value).lower() for value in (record.params, record.errors))


def json_text(value: Any) -> str:
    """How the run search reads params and errors: compact JSON, non-ASCII kept as it is; a
    string is its JSON-escaped body (so a needle compares with the stored text)."""
    import json

    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return text[1:-1] if isinstance(value, str) else text


def like_pattern(text: str) -> str:
    """``%text%`` for SQL ``LIKE ... ESCAPE '\\'``: the text's own ``%``, ``_`` and ``\\`` match
    themselves."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


@runtime_checkable
class AuditBackend(Protocol):
    """What an audit store provides. Every method is safe to call from several processes."""

    url: str

    def claim(self, record: ReleaseRecord) -> bool:
        """Store ``record`` if no record has its (workflow, release, attempt); atomic.

        Returns False (and stores nothing) when another process claimed it first.
        """
        ...

    def claim_next_attempt(
        self, record: ReleaseRecord, *, unless: Iterable[ReleaseStatus] = BLOCKING_STATUSES
    ) -> ReleaseRecord | None:
        """Claim a new attempt of ``record``'s release in one compare-and-set; atomic.

        If no stored attempt of (workflow, release) has a status in ``unless``, store
        ``record`` with ``attempt`` = the highest stored attempt + 1 (1 when there is none;
        the record's own ``attempt`` is ignored) and return the record as stored. Otherwise
        store nothing and return None. Backfill, rerun and crash re-release all claim this
        way, so two processes can never start the same release twice. A ``run_id`` already
        recorded raises ValueError, as in :meth:`claim`.
        """
        ...

    def claim_many(self, records: list[ReleaseRecord]) -> list[bool]:
        """:meth:`claim` for many records at once (one transaction where the store has them).

        The scheduler claims every release due at one tick this way.
        """
        ...

    def update(self, record: ReleaseRecord, *, expect_running: bool = False) -> bool:
        """Replace the stored record with the same ``run_id`` (status, context, ended...).

        Crash-safe: a reader sees the old record or the new one, never half of one. With
        ``expect_running`` it is a compare-and-set: nothing is written (and False returned)
        when the stored record is no longer active (RUNNING or QUEUED), e.g. it was marked
        CRASHED meanwhile.
        An unknown run id raises KeyError; changing (workflow, release, attempt) ValueError.
        """
        ...

    def latest_release(self, workflow: str) -> datetime | None:
        """The latest logical date recorded for ``workflow`` (any status), or None."""
        ...

    def heartbeat(self, run_id: str, at: datetime) -> None:
        """Refresh an active (RUNNING or QUEUED) record's heartbeat; finished ones are left alone."""
        ...

    def get(self, run_id: str) -> ReleaseRecord | None:
        """The record with this run id, or None."""
        ...

    def attempts(self, workflow: str, release: datetime) -> list[ReleaseRecord]:
        """Every attempt at one release, oldest attempt first."""
        ...

    def list(
        self,
        workflow: str | None = None,
        status: ReleaseStatus | None = None,
        since: datetime | None = None,
        limit: int | None = None,
        after: ListPosition | None = None,
    ) -> list[ReleaseRecord]:
        """Records filtered by workflow, status and ``started >= since``, in descending
        :attr:`ReleaseRecord.list_position` order (newest first); with ``after``, only those
        that come after that position (the next page, read by the store, not sliced here)."""
        ...

    def mark_crashed(self, run_id: str, reason: str) -> bool:
        """Set a record that is still active (RUNNING or QUEUED) to CRASHED; append
        ``{"name": "Crashed", "message": reason}`` to its errors and set ``ended``.

        Atomic compare-and-set: returns False if it was no longer active.
        """
        ...

    # -- leases: concurrency groups, max-active-runs and pools (docs/concurrency.md) --------

    def acquire_lease(self, request: LeaseRequest, ttl: timedelta) -> LeaseState:
        """Take a slot of ``request.resource`` for ``request.holder``, or queue for one; atomic.

        In one transaction: leases of the resource whose ``expires`` has passed are dropped
        (their holder is dead); then
        - a holder that already holds is renewed: HELD;
        - with ``preempt``, cancel is requested (:attr:`Lease.cancel_reason`) of every waiter
          queued before the holder and of the oldest holders, as many as must go for it to fit;
        - the holder takes the slot (HELD) when the held weight plus ``weight`` fits in
          ``capacity`` and no waiter is queued before it (strict FIFO, weights included);
        - else it waits (WAITING), keeping its place in the queue across calls; a holder not yet
          queued when ``max_waiting`` others already wait is refused (REFUSED) and nothing stored.
        Every call sets the caller's lease to expire ``ttl`` from now.
        """
        ...

    def renew_leases(self, holders: Iterable[str], ttl: timedelta) -> dict[str, str]:
        """Set every lease (held or waiting) of these holders to expire ``ttl`` from now.

        Returns ``{holder: reason}`` for those whose cancel was requested (by a preempting
        taker, :meth:`acquire_lease`): their process cancels what the lease was taken for.
        """
        ...

    def release_lease(self, resource: str, holder: str) -> bool:
        """Drop ``holder``'s lease of ``resource`` (held or waiting); False when there was none."""
        ...

    def list_leases(self, resource: str | None = None) -> list[Lease]:
        """Unexpired leases (of one resource, or all): by resource, holders first, then waiters
        in queue order."""
        ...

    def close(self) -> None:
        """Release connections and file handles."""
        ...

    # -- pauses and run search (issue 26) ----------------------------------------------------

    def pause(self, workflow: str, by: str, at: datetime) -> bool:
        """Pause ``workflow``: every scheduler sharing the store releases none of its ticks from
        its next tick on. True when it was not paused already (an earlier pause is kept as it is)."""
        ...

    def unpause(self, workflow: str) -> bool:
        """Lift the pause of ``workflow``; True when it was paused."""
        ...

    def paused(self) -> dict[str, WorkflowPause]:
        """Every paused workflow, by name."""
        ...

    def find(
        self, query: RunQuery, limit: int | None = None, after: ListPosition | None = None
    ) -> list[ReleaseRecord]:
        """Records matching ``query``, in :meth:`list`'s order (newest ``started`` first), after
        ``after`` when given: the runs list's pages, filtered by the store where it can."""
        ...


class LeaseState(StrEnum):
    """What :meth:`AuditBackend.acquire_lease` did."""

    HELD = "held"
    WAITING = "waiting"
    REFUSED = "refused"


class LeaseRequest(BaseModel):
    """One taker's ask for a slot of a limited resource (a concurrency group, a workflow's
    active runs, a pool). ``capacity`` is the taker's own reading of the limit."""

    model_config = ConfigDict(frozen=True)

    resource: str = Field(description="'group:<name>', 'workflow:<name>' or 'pool:<name>'.")
    holder: str = Field(description="Unique per taker: a run id, or '<run id>/<job>/<strategy>'.")
    capacity: int = Field(ge=1)
    weight: int = Field(1, ge=1)
    max_waiting: int | None = Field(
        None, ge=0, description="At most this many others queued; None: unbounded."
    )
    preempt: bool = False
    run_id: str
    workflow: str


class Lease(BaseModel):
    """A holder's slot of a resource (``state`` held) or its place in the queue (waiting)."""

    resource: str
    holder: str
    state: LeaseState
    weight: int
    position: int = Field(description="Queue order: smaller came first.")
    run_id: str
    workflow: str
    expires: datetime
    cancel_reason: str | None = None


def lease_fits(held: Iterable[Lease], weight: int, capacity: int) -> bool:
    """Whether ``weight`` more fits beside the held leases (a weight above capacity fits alone)."""
    used = sum(lease.weight for lease in held)
    return used + weight <= capacity or used == 0


def preempt_reason(request: LeaseRequest) -> str:
    """Why a preempted holder is cancelled (``cancel-in-progress``), as its record says."""
    return (
        f"cancelled by run {request.run_id} of workflow '{request.workflow}' "
        f"(cancel-in-progress of {request.resource})"
    )


def queued_ahead(leases: list[Lease], holder: str) -> list[Lease]:
    """Waiters queued before ``holder`` (all waiters when it is not queued), leaving out those
    whose cancel was requested: they are on their way out and run nothing."""
    own = next((lease for lease in leases if lease.holder == holder), None)
    return [
        lease
        for lease in leases
        if lease.state is LeaseState.WAITING
        and lease.holder != holder
        and lease.cancel_reason is None
        and (own is None or lease.position < own.position)
    ]


def preempted(leases: list[Lease], request: LeaseRequest) -> list[Lease]:
    """The leases a preempting ``request`` asks to cancel: every waiter queued before it, and
    the oldest holders, as many as must go for it to fit. ``leases`` are the resource's
    unexpired leases in list order."""
    chosen = queued_ahead(leases, request.holder)
    staying = sorted(
        (lease for lease in leases if lease.state is LeaseState.HELD and lease.holder != request.holder),
        key=lambda lease: lease.position,
    )
    staying = [lease for lease in staying if lease.cancel_reason is None]
    while staying and not lease_fits(staying, request.weight, request.capacity):
        chosen.append(staying.pop(0))
    return chosen


def lease_decision(leases: list[Lease], request: LeaseRequest) -> LeaseState:
    """What ``acquire_lease`` does for ``request`` given the resource's unexpired leases (in
    list order, after any preemption): every store applies this one rule."""
    own = next((lease for lease in leases if lease.holder == request.holder), None)
    if own is not None and own.state is LeaseState.HELD:
        return LeaseState.HELD
    held = [lease for lease in leases if lease.state is LeaseState.HELD]
    if not queued_ahead(leases, request.holder) and lease_fits(held, request.weight, request.capacity):
        return LeaseState.HELD
    waiting = [
        lease for lease in leases if lease.state is LeaseState.WAITING and lease.holder != request.holder
    ]
    if own is None and request.max_waiting is not None and len(waiting) >= request.max_waiting:
        return LeaseState.REFUSED
    return LeaseState.WAITING
    # -- log search (issue 26): a finished run's trace lines, searchable by words ---------------

    def add_log_lines(self, run_id: str, workflow: str, lines: list[LogLine]) -> None:
        """Keep a run's trace lines (masked already) for :meth:`search_logs`; called once per
        run, when it ends. SQLite indexes them with FTS5, PostgreSQL with a tsvector, the file
        store keeps them in a file per run."""
        ...

    def search_logs(
        self,
        text: str,
        workflow: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> list[LogLine]:
        """Lines holding every word of ``text`` (:func:`log_words`: letters and digits, any
        case), of ``workflow`` if given, with ``since <= time < until``; newest first, at most
        ``limit``. The file store scans at most :data:`MAX_SCANNED_LOG_LINES` lines."""
        ...


# -- log search (issue 26) ---------------------------------------------------------------------

MAX_LOG_LINES_PER_RUN = 20_000
"""A run's trace lines kept for search beyond this are dropped (its trace file keeps them all)."""
MAX_SCANNED_LOG_LINES = 200_000
"""A store without an index (the file store) reads at most this many lines per search."""
_WORD = re.compile(r"[^\W_]+")


class LogLine(NamedTuple):
    """One trace line as log search keeps and finds it."""

    run_id: str
    workflow: str
    time: datetime
    event: str
    message: str
    job: str | None = None
    strategy: str | None = None
    stage: str | None = None


def log_words(text: str) -> list[str]:
    """The words search matches on, in every store alike: runs of letters and digits, lower case
    (``no_marker-yet 3.11`` -> ``no marker yet 3 11``)."""
    return _WORD.findall(text.lower())


def log_lines_from_trace(
    events: Iterable[dict[str, Any]], limit: int = MAX_LOG_LINES_PER_RUN
) -> list[LogLine]:
    """The searchable lines of a run's trace events: each event with a message or errors (a
    failed stage's error text is searchable too), at most ``limit``."""
    lines: list[LogLine] = []
    for event in events:
        message = str(event.get("message") or "")
        for error in event.get("errors") or []:
            if isinstance(error, dict):
                message += (
                    f"{': ' if message else ''}{error.get('name', 'Error')}: {error.get('message', '')}"
                )
        if not message:
            continue
        lines.append(
            LogLine(
                run_id=str(event.get("run_id", "")),
                workflow=str(event.get("workflow", "")),
                time=datetime.fromtimestamp(float(event.get("time", 0)), UTC),
                event=str(event.get("event", "")),
                message=message,
                job=event.get("job"),
                strategy=event.get("strategy"),
                stage=event.get("stage"),
            )
        )
        if len(lines) >= limit:
            break
    return lines


def line_matches(
    line: LogLine, words: list[str], workflow: str | None, since: datetime | None, until: datetime | None
) -> bool:
    """What :meth:`AuditBackend.search_logs` finds, for a store that scans (and the tests)."""
    if workflow is not None and line.workflow != workflow:
        return False
    if (since is not None and line.time < since) or (until is not None and line.time >= until):
        return False
    return set(words) <= set(log_words(line.message))


def keep_log_lines(backend: AuditBackend, run_id: str, workflow: str, trace_file: str | Path | None) -> None:
    """A finished run's trace lines into the store, for search. Never raises: a store that
    cannot take them costs the search those lines, never the run its record."""
    if not trace_file:
        return
    try:
        from runwright.trace import read_trace

        path = os.fspath(trace_file)  # a str, never a Path: pathlib interns every part it parses
        if os.path.isfile(path):
            backend.add_log_lines(run_id, workflow, log_lines_from_trace(read_trace(path)))
    except Exception:  # noqa: BLE001 - the run is recorded already; search is best effort
        pass


def check_search_text(text: str) -> list[str]:
    """The words of a search; a text without any is refused (it would match every line)."""
    words = log_words(text)
    if not words:
        raise ValueError(f"search text {text!r} has no words (letters or digits) to look for")
    return words


def check_update_target(current: ReleaseRecord | None, record: ReleaseRecord) -> None:
    """What every backend's :meth:`AuditBackend.update` refuses: an unknown run id (KeyError)
    and a change of (workflow, release, attempt) (ValueError). ``current`` is the stored record."""
    if current is None or current.run_id != record.run_id:
        raise KeyError(f"no audit record with run id {record.run_id!r}")
    if current.key != record.key:
        raise ValueError(
            f"update of run {record.run_id!r} cannot change its key {current.key} to {record.key}"
        )


def process_alive(pid: int) -> bool:
    """Whether a process with this id exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def crash_reason(
    record: ReleaseRecord, now: datetime | None = None, stale_after: timedelta = CRASHED_HEARTBEAT_AGE
) -> str | None:
    """Why an active (RUNNING or QUEUED) record cannot still be alive, or None when it may be.

    Dead: its process ran on this host and is gone, or its heartbeat is older than
    ``stale_after`` (the only sign available for another host's runs).
    """
    if record.status not in ACTIVE_STATUSES:
        return None
    if record.host == socket.gethostname() and not process_alive(record.pid):
        return f"run crashed: process is gone (pid {record.pid} on {record.host})"
    if (now or utc_now()) - record.heartbeat > stale_after:
        return f"run crashed: no heartbeat since {record.heartbeat.isoformat()}"
    return None


def mark_dead_crashed(
    backend: AuditBackend,
    records: Iterable[ReleaseRecord],
    stale_after: timedelta = CRASHED_HEARTBEAT_AGE,
) -> list[ReleaseRecord]:
    """``records`` as they stand once every dead RUNNING one among them is marked CRASHED.

    Any command that reads RUNNING records calls this, so a killed run does not stay RUNNING
    forever when no scheduler is running. ``mark_crashed`` is a compare-and-set: a run that
    finished meanwhile keeps its own verdict.
    """
    now = utc_now()
    current: list[ReleaseRecord] = []
    for record in records:
        reason = crash_reason(record, now, stale_after)
        if reason is not None:
            backend.mark_crashed(record.run_id, reason)
            record = backend.get(record.run_id) or record
        current.append(record)
    return current


class Closeable(Protocol):
    def close(self) -> Any: ...


ConnectionT = TypeVar("ConnectionT", bound=Closeable)


class HeldConnection:
    """A thread's connection, kept in the thread's ``threading.local``: dropped when the thread ends."""

    __slots__ = ("__weakref__", "connection", "key")

    def __init__(self, connection: Any, key: tuple[int, int]) -> None:
        self.connection = connection
        self.key = key  # (process id, generation)


def close_dropped(opened: dict[int, Any], lock: threading.Lock, serial: int, pid: int) -> None:
    """Close the connection of a thread that ended (or that opened a new one). A process forked
    from its opener keeps it open and referenced: closing it there would end the opener's
    PostgreSQL session or let SQLite checkpoint the opener's WAL from another process."""
    if os.getpid() != pid:
        return
    with lock:
        connection = opened.pop(serial, None)
    if connection is not None:
        try:
            connection.close()
        except Exception:  # its thread is gone: nobody to tell, and the store is unchanged
            pass


class ThreadConnections(Generic[ConnectionT]):
    """One connection per thread (and per process after a fork) for a store whose connections
    are not shared between threads (SQLite, PostgreSQL), each closed when its thread ends.

    A server's threads come and go: anyio ends a request thread idle for 10 s, a backfill's pool
    ends with the backfill. Kept for every thread that ever ran, their connections held open
    files and page caches (SQLite) or server sessions (PostgreSQL) for the life of the process.
    """

    def __init__(
        self, connect: Callable[[], ConnectionT], usable: Callable[[ConnectionT], bool] | None = None
    ) -> None:
        """``connect`` opens a connection; ``usable`` says whether a thread's one can still be
        used (else a new one is opened)."""
        self._connect = connect
        self._usable = usable
        self._local = threading.local()
        self._lock = threading.Lock()
        self._opened: dict[int, ConnectionT] = {}
        self._serials = itertools.count()
        self._generation = 0

    def get(self) -> ConnectionT:
        """This thread's connection, opened on first use (again after :meth:`close_all`, after a
        fork, or when it is not ``usable``)."""
        held: HeldConnection | None = getattr(self._local, "held", None)
        key = (os.getpid(), self._generation)
        if held is not None and held.key == key and (self._usable is None or self._usable(held.connection)):
            return held.connection  # type: ignore[no-any-return]
        connection = self._connect()
        fresh = HeldConnection(connection, key)
        serial = next(self._serials)
        with self._lock:
            self._opened[serial] = connection
        weakref.finalize(fresh, close_dropped, self._opened, self._lock, serial, key[0]).atexit = False
        self._local.held = fresh  # the one it replaces (if any) is closed now
        return connection

    def close_all(self) -> None:
        """Close every connection open now, in any thread; later calls open new ones."""
        with self._lock:
            opened = list(self._opened.values())
            self._opened.clear()
            self._generation += 1
        for connection in opened:
            connection.close()


class PoolExhausted(RunwrightError):
    """No connection of a :class:`ConnectionPool` came free in time."""


class _PoolState(Generic[ConnectionT]):
    """A :class:`ConnectionPool`'s connections in one process (a forked child starts anew)."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.ready = threading.Condition(threading.Lock())
        self.idle: list[ConnectionT] = []
        self.opened = 0  # idle and in use


class ConnectionPool(Generic[ConnectionT]):
    """At most ``size`` connections per process to a store whose connections a thread may use
    only while no other does (SQLite), shared by the process's threads one use at a time.

    Why not one per thread: a server's worker runs 64 runs on threads of its own, and their jobs
    on more. A connection per thread gave each its own page cache, statement cache and the list
    of cursors SQLite prunes only every 200, and every new thread a new set: a worker's memory
    followed the most threads it ever had (issue 30). A thread that is already using one (inside
    a transaction) and uses the store again gets the same connection, as before.
    """

    def __init__(self, connect: Callable[[], ConnectionT], size: int, wait_seconds: float) -> None:
        self._connect = connect
        self._size = size
        self._wait_seconds = wait_seconds
        self._state: _PoolState[ConnectionT] = _PoolState()
        self._inherited: list[_PoolState[ConnectionT]] = []
        self._local = threading.local()

    def _current(self) -> _PoolState[ConnectionT]:
        state = self._state
        if state.pid != os.getpid():  # forked: the parent's connections are never used (nor closed) here
            self._inherited.append(state)
            state = self._state = _PoolState()
        return state

    @contextmanager
    def connection(self) -> Iterator[ConnectionT]:
        """A connection for this thread's use until the block ends."""
        held: tuple[_PoolState[ConnectionT], ConnectionT] | None = getattr(self._local, "held", None)
        if held is not None and held[0] is self._current():
            yield held[1]
            return
        state, connection = self._take()
        self._local.held = (state, connection)
        try:
            yield connection
        finally:
            self._local.held = None
            self._give_back(state, connection)

    def _take(self) -> tuple[_PoolState[ConnectionT], ConnectionT]:
        deadline = time.monotonic() + self._wait_seconds
        while True:
            state = self._current()
            with state.ready:
                if state is not self._state:
                    continue  # closed meanwhile: wait on the new connections instead
                if state.idle:
                    return state, state.idle.pop()  # the most recently used: the warmest cache
                if state.opened < self._size:
                    state.opened += 1
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    raise PoolExhausted(
                        f"all {self._size} connections to the store stayed in use "
                        f"for {self._wait_seconds:g} s"
                    )
                state.ready.wait(left)
        try:
            return state, self._connect()
        except BaseException:
            with state.ready:
                state.opened -= 1
                state.ready.notify()
            raise

    def _give_back(self, state: _PoolState[ConnectionT], connection: ConnectionT) -> None:
        with state.ready:
            if state is self._state:
                state.idle.append(connection)
                state.ready.notify()
                return
            state.opened -= 1
        if state.pid == os.getpid():  # closed by close_all() while in use
            connection.close()

    def close_all(self) -> None:
        """Close every idle connection now and every one in use when its use ends; later uses
        (and threads waiting for one) take new ones."""
        state = self._current()
        self._state = _PoolState()
        with state.ready:
            idle, state.idle = state.idle, []
            state.opened -= len(idle)
            state.ready.notify_all()
        for connection in idle:
            connection.close()


def make_audit_backend(url: str | None = None, pm: Any = None, conf_path: Any = None) -> AuditBackend:
    """The backend for ``url`` (else ``RUNWRIGHT_AUDIT_URL``, else the default store in the state
    folder of ``conf_path``, itself by default ``RUNWRIGHT_CONF`` or ``./conf``).

    The default store is the file store in ``<state>/audits``; with only another local store
    installed (SQLite), that store in the state folder. A relative path in a URL is read against
    the state folder, so a command run from another directory reads the same store.
    """
    from runwright import state
    from runwright.config import Settings
    from runwright.runtime import Runtime

    manager = pm or Runtime.default().pm
    state_dir = state.state_dir(conf_path)
    url = url or Settings.from_env().audit_url
    if not url:
        refuse_an_orphaned_store(state_dir / "audits")
        url = manager.hook.default_audit_url(state_dir=state_dir)
        if url is None:
            raise NoAuditBackend(
                "no audit store is installed, so runs are not recorded: "
                "pip install 'runwright[sqlite]' (or [file], [postgres])"
            )
    backend = manager.hook.make_audit_backend(url=url, state_dir=state_dir)
    if backend is None:
        schemes = sorted(s for group in manager.hook.audit_backend_schemes() for s in group)
        installed = ", ".join(f"{s}://" for s in schemes) or "none (pip install 'runwright[sqlite]')"
        raise NoAuditBackend(
            f"no audit backend for '{url}'; installed backends: {installed} "
            "(RUNWRIGHT_AUDIT_URL chooses the store)"
        )
    return backend


class NoAuditBackend(RunwrightError):
    """No installed plugin records runs at the configured (or default) URL."""


class OrphanedAuditStore(RunwrightError):
    """The default store would start empty beside the records of the old default place."""


OLD_DEFAULT_STORE = Path("audits")
"""Where runwright kept its records before the state folder: ``./audits`` in the current directory."""


def refuse_an_orphaned_store(default_root: Path) -> None:
    """Refuse to start an empty default store while records sit in the old default place.

    A scheduler or backfill that cannot see the releases already made would release them again;
    the user decides where the records live (``RUNWRIGHT_AUDIT_URL``), never a silent new store.
    """
    old = OLD_DEFAULT_STORE.absolute()
    if old == default_root.absolute() or not (old / "_runs").is_dir() or default_root.exists():
        return
    raise OrphanedAuditStore(
        f"audit records are in {old} (the default store of earlier runwright versions), but the "
        f"default store is now {default_root}, which does not exist yet. Keep the old records with "
        f"RUNWRIGHT_AUDIT_URL=file://{old}, or move that folder to {default_root}; a new, empty store "
        "is never started beside them, since it would release again what they say was released"
    )
