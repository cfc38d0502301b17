"""The audit backend protocol: one record per release, claimed atomically.

Backends are plugins: the ``make_audit_backend(url)`` hook returns one for its URL scheme
(``file://``, ``sqlite://``...), chosen by ``RUNWRIGHT_AUDIT_URL`` (default ``audits/`` in the
state folder, see :mod:`runwright.state`).
A backend must make :meth:`AuditBackend.claim` atomic across processes: that is what makes a
release run exactly once when several schedulers share one store.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, NamedTuple, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, field_validator

from runwright.errors import RunwrightError

CRASHED_HEARTBEAT_AGE = timedelta(minutes=2)
"""A RUNNING record whose heartbeat is older than this is taken for dead (runs beat every 10 s)."""


class ReleaseStatus(StrEnum):
    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    SKIP = "SKIP"
    CANCEL = "CANCEL"
    CRASHED = "CRASHED"


BLOCKING_STATUSES = frozenset({ReleaseStatus.RUNNING, ReleaseStatus.SUCCESS})
"""While an attempt of a release has one of these, no new attempt may be claimed (backfill,
rerun, crash re-release): it is being run, or it is done."""


class ReleaseType(StrEnum):
    SCHEDULED = "scheduled"
    MANUAL = "manual"
    BACKFILL = "backfill"
    RERUN = "rerun"


def utc_now() -> datetime:
    return datetime.now(UTC)


class ReleaseRecord(BaseModel):
    """One attempt at one release (workflow, logical date). Secrets are masked before storing."""

    model_config = ConfigDict(extra="forbid")

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
        when the stored record is no longer RUNNING, e.g. it was marked CRASHED meanwhile.
        An unknown run id raises KeyError; changing (workflow, release, attempt) ValueError.
        """
        ...

    def latest_release(self, workflow: str) -> datetime | None:
        """The latest logical date recorded for ``workflow`` (any status), or None."""
        ...

    def heartbeat(self, run_id: str, at: datetime) -> None:
        """Refresh a RUNNING record's heartbeat time (finished records are left alone)."""
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
        """Set a record that is still RUNNING to CRASHED; append ``{"name": "Crashed",
        "message": reason}`` to its errors and set ``ended``.

        Atomic compare-and-set: returns False if it was no longer RUNNING.
        """
        ...

    def close(self) -> None:
        """Release connections and file handles."""
        ...

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

        path = Path(trace_file)
        if path.is_file():
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
    """Why a RUNNING record cannot still be running, or None when it may be.

    Dead: its process ran on this host and is gone, or its heartbeat is older than
    ``stale_after`` (the only sign available for another host's runs).
    """
    if record.status is not ReleaseStatus.RUNNING:
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
