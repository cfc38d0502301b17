"""The ``file://`` audit backend: one JSON file per release attempt, claimed with a hard link.

Layout under the root folder::

    <root>/<workflow>/<release, UTC, e.g. 2024-01-01T00-00-00Z>/attempt-<n>.json
    <root>/<workflow>/<release>/attempt-<n>.lock     (flock target for read-check-write)
    <root>/<workflow>/<release>/release.lock         (flock target for claiming a new attempt)
    <root>/_runs/<run_id>                            (names the record path, relative to root)
    <root>/_running/<run_id>                         (the same, while the record is active)
    <root>/_paused/<workflow>                        (a paused workflow: who and when, JSON)
    <root>/_leases/<resource>.json                   (the resource's leases: holders and waiters)
    <root>/_leases/<resource>.lock                   (flock target for every change of them)
    <root>/_lease_holders/<holder>=<resource>        (empty: which resources a holder has leases of)
    <root>/_logs/<workflow>/<run_id>.jsonl           (a finished run's trace lines, for search)

Why it is safe across processes:

* ``claim`` writes the whole record to a temp file first, then ``os.link``\\ s it to the final
  name. ``link`` fails if the name exists, so exactly one claimer wins, and the published file
  is complete from the first moment anyone can see it.
* ``claim_next_attempt`` holds an ``flock`` on the release's ``release.lock`` while it reads
  every attempt, checks none is active or SUCCESS and publishes attempt N+1 as ``claim``
  does: two such claims of one release are serialised, and the second sees the first's
  RUNNING record.
* ``update``, ``heartbeat`` and ``mark_crashed`` hold an ``flock`` on the record's lock file
  around read-check-write and publish with ``os.replace``: readers see the old record or the
  new one, and ``mark_crashed`` is a real compare-and-set against ``update``.
* The run-id index is written *before* the record is published, so every visible record can be
  found by its run id; an index left by a crashed or losing claim is ignored, because ``get``
  checks that the record it points to carries the same run id.
* ``_running`` holds a marker per active (RUNNING or QUEUED) record, so ``list(status=RUNNING)``
  (the scheduler's crash sweep) and ``list(status=QUEUED)`` read only those, not the whole
  history. A marker is written before its record becomes active and removed after it stops being
  active; a stale one is skipped on read.
* Leases: every change of a resource's leases (``acquire_lease``, ``renew_leases``,
  ``release_lease``) holds the resource's ``flock`` around read-decide-write, and the state file
  is replaced whole with ``os.replace``, so takers in any process of the host take turns and a
  reader sees one state or the next. A holder's marker in ``_lease_holders`` is created before
  its lease is stored and removed after it is dropped (both under the resource's lock), so
  ``renew_leases`` finds a holder's resources from file names alone.

Record contents are fsynced before they are published (``?fsync=0`` turns that off, e.g. on
tmpfs); directory entries are not. POSIX only (``fcntl``).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit

from pydantic import ConfigDict, TypeAdapter
from runwright.audit import (
    ACTIVE_STATUSES,
    BLOCKING_STATUSES,
    MAX_SCANNED_LOG_LINES,
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
    lease_decision,
    line_matches,
    preempt_reason,
    preempted,
    utc_now,
)

from runwright_audit_file.plugin import SCHEME

RUN_INDEX_FOLDER = "_runs"
RUNNING_INDEX_FOLDER = "_running"
PAUSED_FOLDER = "_paused"
LEASE_FOLDER = "_leases"
LEASE_HOLDER_FOLDER = "_lease_holders"
HOLDER_SEPARATOR = "="  # never in a safe_name: it splits '<holder>=<resource>' marker names
LEASE_NAME_MAX = 113  # two of them and the separator stay under the usual 255-byte file name limit
# keys only, as runwright.audit.RECORD_CONFIG: pydantic would keep every holder id it parsed
LEASE_LIST = TypeAdapter(list[Lease], config=ConfigDict(cache_strings="keys"))
LOG_FOLDER = "_logs"
RELEASE_LOCK_FILE = "release.lock"
CLAIM_TRIES = 100
ATTEMPT_FILE = re.compile(r"attempt-([0-9]+)\.json")
TEMP_PREFIX = ".tmp-"
DATETIME_FIELDS = ("release", "started", "ended", "heartbeat")


def root_from_url(url: str, relative_to: Path | None = None) -> Path:
    """``file:///abs/dir`` is absolute; ``file://./dir`` is relative to ``relative_to`` (the state
    folder, when runwright makes the backend), else the current directory."""
    if not url.lower().startswith(f"{SCHEME}://"):
        raise ValueError(f"not a file:// URL: {url!r}")
    rest = unquote(url[len(SCHEME) + 3 :].split("?", 1)[0].split("#", 1)[0])
    if rest.startswith("localhost/"):
        rest = rest[len("localhost") :]
    if not rest or rest == "/":
        raise ValueError(f"file:// audit URL names no folder: {url!r} (try file://./audits)")
    return ((relative_to or Path.cwd()) / Path(rest).expanduser()).resolve()


def safe_name(text: str) -> str:
    """A reversible single path component: no separators, no dot files, no clash with ``_runs``."""
    if not text:
        raise ValueError("workflow names and run ids must not be empty")
    encoded = quote(text, safe="")
    if encoded[0] in "._":
        encoded = f"%{ord(encoded[0]):02X}{encoded[1:]}"
    return encoded


def lease_name(text: str) -> str:
    """:func:`safe_name`, cut to a length that two of fit in one file name (a holder's marker):
    a longer one keeps its start and ends with ``+`` and a digest (``+`` is never in a safe_name)."""
    name = safe_name(text)
    if len(name) <= LEASE_NAME_MAX:
        return name
    digest = hashlib.sha256(text.encode()).hexdigest()[:32]
    return f"{name[: LEASE_NAME_MAX - len(digest) - 1]}+{digest}"


def release_folder_name(release: datetime) -> str:
    """The release as filesystem-safe UTC ISO: ``2024-01-01T00-00-00Z`` (+ ``.ffffff`` if set)."""
    if release.tzinfo is None:
        raise ValueError("release datetimes must be timezone-aware")
    moment = release.astimezone(UTC)
    text = moment.strftime("%Y-%m-%dT%H-%M-%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}"
    return text + "Z"


def release_from_folder_name(name: str) -> datetime:
    """The inverse of :func:`release_folder_name`."""
    text = name.removesuffix("Z")
    stamp, _, fraction = text.partition(".")
    moment = datetime.strptime(stamp, "%Y-%m-%dT%H-%M-%S").replace(tzinfo=UTC)
    return moment.replace(microsecond=int(fraction)) if fraction else moment


def in_utc(record: ReleaseRecord) -> ReleaseRecord:
    """The record with every datetime in UTC, so stored files compare and sort the same way."""
    changes = {
        name: value.astimezone(UTC)
        for name in DATETIME_FIELDS
        if (value := getattr(record, name)) is not None
    }
    return record.model_copy(update=changes)


class FileAuditBackend:
    """Audit records as JSON files under one folder; safe for many processes on one host."""

    def __init__(self, url: str, relative_to: Path | None = None) -> None:
        self.root = root_from_url(url, relative_to)
        query = urlsplit(url).query
        self.url = f"{SCHEME}://{self.root}" + (f"?{query}" if query else "")  # absolute: one store for all
        options = parse_qs(query)
        self.fsync = options.get("fsync", ["1"])[-1].lower() not in ("0", "false", "no")
        for folder in (
            RUN_INDEX_FOLDER,
            RUNNING_INDEX_FOLDER,
            PAUSED_FOLDER,
            LEASE_FOLDER,
            LEASE_HOLDER_FOLDER,
        ):
            (self.root / folder).mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"FileAuditBackend({self.url!r} -> {str(self.root)!r})"

    # -- paths -----------------------------------------------------------------------------

    def record_path(self, workflow: str, release: datetime, attempt: int) -> Path:
        folder = self.root / safe_name(workflow) / release_folder_name(release)
        return folder / f"attempt-{attempt}.json"

    def index_path(self, run_id: str) -> Path:
        return self.root / RUN_INDEX_FOLDER / safe_name(run_id)

    def running_marker_path(self, run_id: str) -> Path:
        return self.root / RUNNING_INDEX_FOLDER / safe_name(run_id)

    def path_of_run(self, run_id: str) -> Path | None:
        """The record path the run-id index names, or None when the run id is unknown."""
        return self.path_named_by(self.index_path(run_id))

    def path_named_by(self, index_file: Path) -> Path | None:
        """The record path in a ``_runs`` or ``_running`` file, or None if it is gone."""
        try:
            relative = Path(index_file.read_text(encoding="utf-8").strip())
        except FileNotFoundError:
            return None
        if relative.is_absolute() or ".." in relative.parts:
            return None  # not written by this backend: never read outside the store
        return self.root / relative

    def mark_running(self, record: ReleaseRecord, path: Path) -> None:
        """Keep the active marker in step with ``record`` (written before, removed after)."""
        marker = self.running_marker_path(record.run_id)
        if record.status in ACTIVE_STATUSES:
            self.replace_file(marker, path.relative_to(self.root).as_posix().encode())
        else:
            marker.unlink(missing_ok=True)

    # -- low-level file writes --------------------------------------------------------------

    def write_temp(self, folder: Path, data: bytes) -> Path:
        """Write ``data`` to a new temp file in ``folder`` (same filesystem as the target)."""
        temp = folder / f"{TEMP_PREFIX}{os.getpid()}-{uuid.uuid4().hex}"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if self.fsync:
                os.fsync(fd)
        except BaseException:
            os.close(fd)
            temp.unlink(missing_ok=True)
            raise
        os.close(fd)
        return temp

    def replace_file(self, path: Path, data: bytes) -> None:
        """Atomically replace ``path`` with ``data``: temp file then ``os.replace``."""
        temp = self.write_temp(path.parent, data)
        try:
            os.replace(temp, path)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise

    @contextmanager
    def locked(self, path: Path) -> Iterator[None]:
        """Hold the record's exclusive flock (released by the kernel if this process dies)."""
        with self.flocked(path.with_suffix(".lock")):
            yield

    @contextmanager
    def flocked(self, lock_file: Path) -> Iterator[None]:
        """Hold an exclusive flock on ``lock_file`` (created if missing)."""
        fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    @staticmethod
    def encode(record: ReleaseRecord) -> bytes:
        return in_utc(record).model_dump_json(indent=2).encode() + b"\n"

    @staticmethod
    def read(path: Path) -> ReleaseRecord | None:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        return ReleaseRecord.model_validate_json(data)

    # -- the AuditBackend protocol ----------------------------------------------------------

    def claim(self, record: ReleaseRecord) -> bool:
        """Publish the record with ``os.link`` (fails if the attempt exists): one winner."""
        path = self.record_path(record.workflow, record.release, record.attempt)
        if path.exists():
            return False
        if self.get(record.run_id) is not None:
            raise ValueError(f"run id {record.run_id!r} is already recorded")
        path.parent.mkdir(parents=True, exist_ok=True)
        index = self.index_path(record.run_id)
        self.replace_file(index, path.relative_to(self.root).as_posix().encode())
        if record.status in ACTIVE_STATUSES:
            self.mark_running(record, path)
        temp = self.write_temp(path.parent, self.encode(record))
        try:
            os.link(temp, path)
        except FileExistsError:
            index.unlink(missing_ok=True)
            self.running_marker_path(record.run_id).unlink(missing_ok=True)
            return False
        finally:
            temp.unlink(missing_ok=True)
        return True

    def claim_next_attempt(
        self, record: ReleaseRecord, *, unless: Iterable[ReleaseStatus] = BLOCKING_STATUSES
    ) -> ReleaseRecord | None:
        """Under the release's flock: read the attempts, check, publish attempt N+1.

        A plain :meth:`claim` (the scheduler's) does not take that lock; if it publishes the
        same attempt number first, the link fails and the check runs again on what it wrote.
        """
        blocking = {ReleaseStatus(status) for status in unless}
        folder = self.record_path(record.workflow, record.release, 1).parent
        folder.mkdir(parents=True, exist_ok=True)
        with self.flocked(folder / RELEASE_LOCK_FILE):
            for _ in range(CLAIM_TRIES):
                existing = self.attempts(record.workflow, record.release)
                if any(attempt.status in blocking for attempt in existing):
                    return None
                attempt = existing[-1].attempt + 1 if existing else 1
                candidate = record.model_copy(update={"attempt": attempt})
                if self.claim(candidate):
                    return candidate
        raise RuntimeError(f"could not claim a new attempt of {record.workflow} @ {record.release}")

    def claim_many(self, records: list[ReleaseRecord]) -> list[bool]:
        """One exclusive publish per record: files have no transaction to share."""
        return [self.claim(record) for record in records]

    def latest_release(self, workflow: str) -> datetime | None:
        """From the release folder names alone: no record is read."""
        folder = self.root / safe_name(workflow)
        if not folder.is_dir():
            return None
        names = [p.name for p in folder.iterdir() if p.is_dir() and p.name.endswith("Z")]
        return max((release_from_folder_name(n) for n in names), default=None)

    def update(self, record: ReleaseRecord, *, expect_running: bool = False) -> bool:
        """Replace the record with this run id; its (workflow, release, attempt) must not change."""
        path = self.path_of_run(record.run_id)
        if path is None:
            raise KeyError(f"no audit record with run id {record.run_id!r}")
        with self.locked(path):
            current = self.read(path)
            check_update_target(current, record)
            if expect_running and current.status not in ACTIVE_STATUSES:
                return False
            running = record.status in ACTIVE_STATUSES
            if running:  # the marker goes first: an active record always has one
                self.mark_running(record, path)
            self.replace_file(path, self.encode(record))
            if not running:  # and is removed only once the record says it stopped
                self.mark_running(record, path)
        return True

    def heartbeat(self, run_id: str, at: datetime) -> None:
        """Refresh the heartbeat of an active record; finished records are left alone."""
        if at.tzinfo is None:
            raise ValueError("heartbeat time must be timezone-aware")
        path = self.path_of_run(run_id)
        if path is None:
            raise KeyError(f"no audit record with run id {run_id!r}")
        with self.locked(path):
            current = self.read(path)
            if current is None or current.run_id != run_id:
                raise KeyError(f"no audit record with run id {run_id!r}")
            if current.status in ACTIVE_STATUSES:
                self.replace_file(path, self.encode(current.model_copy(update={"heartbeat": at})))

    def get(self, run_id: str) -> ReleaseRecord | None:
        path = self.path_of_run(run_id)
        record = self.read(path) if path is not None else None
        return record if record is not None and record.run_id == run_id else None

    def attempts(self, workflow: str, release: datetime) -> list[ReleaseRecord]:
        folder = self.record_path(workflow, release, 1).parent
        records = [r for r in self.read_folder(folder) if r.workflow == workflow]
        return sorted(records, key=lambda r: r.attempt)

    def list(
        self,
        workflow: str | None = None,
        status: ReleaseStatus | None = None,
        since: datetime | None = None,
        limit: int | None = None,
        after: ListPosition | None = None,
    ) -> list[ReleaseRecord]:
        """Reads every record file (of one workflow, if given): fine for thousands, not millions.

        ``status=RUNNING`` and ``status=QUEUED`` read only the records named in ``_running``.
        """
        return self.find(RunQuery(workflow=workflow, status=status, started_from=since), limit, after)

    def mark_crashed(self, run_id: str, reason: str) -> bool:
        """Compare-and-set active (RUNNING or QUEUED) -> CRASHED under the record's flock."""
        path = self.path_of_run(run_id)
        if path is None:
            return False
        with self.locked(path):
            current = self.read(path)
            if current is None or current.run_id != run_id:
                return False
            if current.status not in ACTIVE_STATUSES:
                return False
            crashed = current.model_copy(
                update={
                    "status": ReleaseStatus.CRASHED,
                    "ended": current.ended or utc_now(),
                    "errors": [*current.errors, {"name": "Crashed", "message": reason}],
                }
            )
            self.replace_file(path, self.encode(crashed))
            self.mark_running(crashed, path)
        return True

    # -- leases (docs/concurrency.md) ------------------------------------------------------

    def lease_path(self, resource_name: str, suffix: str) -> Path:
        """A resource's state (``.json``) or lock (``.lock``) file, by its :func:`lease_name`."""
        return self.root / LEASE_FOLDER / f"{resource_name}{suffix}"

    def holder_marker_path(self, holder: str, resource: str) -> Path:
        name = f"{lease_name(holder)}{HOLDER_SEPARATOR}{lease_name(resource)}"
        return self.root / LEASE_HOLDER_FOLDER / name

    def read_leases(self, resource_name: str) -> list[Lease]:
        """Every stored lease of a resource, expired ones too (no lock needed: files are replaced whole)."""
        try:
            data = self.lease_path(resource_name, ".json").read_bytes()
        except FileNotFoundError:
            return []
        return LEASE_LIST.validate_json(data)

    def write_leases(self, resource_name: str, leases: list[Lease]) -> None:
        """Replace a resource's state (under its lock); the file goes when no lease is left."""
        path = self.lease_path(resource_name, ".json")
        if leases:
            self.replace_file(path, LEASE_LIST.dump_json(leases))
        else:
            path.unlink(missing_ok=True)

    def acquire_lease(self, request: LeaseRequest, ttl: timedelta) -> LeaseState:
        """Under the resource's flock: drop expired leases, preempt, decide and store."""
        resource_name = lease_name(request.resource)
        with self.flocked(self.lease_path(resource_name, ".lock")):
            now = utc_now()
            stored = self.read_leases(resource_name)
            leases = [lease for lease in stored if lease.expires >= now]
            dropped = [lease for lease in stored if lease.expires < now]
            if request.preempt:
                reason = preempt_reason(request)
                for lease in preempted(leases, request):
                    lease.cancel_reason = reason
            decision = lease_decision(leases, request)
            if decision is not LeaseState.REFUSED:
                own = next((lease for lease in leases if lease.holder == request.holder), None)
                if own is None:
                    self.holder_marker_path(request.holder, request.resource).touch()  # before the lease
                    own = Lease(
                        resource=request.resource,
                        holder=request.holder,
                        state=decision,
                        weight=request.weight,
                        # queue order; near the time order of the whole store, as the other stores' is
                        position=max([time.time_ns() // 1000, *(lease.position + 1 for lease in stored)]),
                        run_id=request.run_id,
                        workflow=request.workflow,
                        expires=now,
                    )
                    leases.append(own)
                own.state, own.expires = decision, now + ttl
            self.write_leases(resource_name, leases)
            kept = {lease.holder for lease in leases}
            for lease in dropped:  # after the lease: a stored lease always has its marker
                if lease.holder not in kept:  # (an expired holder may just have come back)
                    self.holder_marker_path(lease.holder, lease.resource).unlink(missing_ok=True)
        return decision

    def renew_leases(self, holders: Iterable[str], ttl: timedelta) -> dict[str, str]:
        """Find the holders' resources from the marker names, then renew under each one's flock."""
        wanted = {lease_name(holder): holder for holder in holders}
        by_resource: dict[str, dict[str, str]] = {}  # resource name -> {holder: its marker}
        for marker in os.listdir(self.root / LEASE_HOLDER_FOLDER):
            holder_name, separator, resource_name = marker.partition(HOLDER_SEPARATOR)
            if separator and holder_name in wanted:
                by_resource.setdefault(resource_name, {})[wanted[holder_name]] = marker
        cancelled: dict[str, str] = {}
        for resource_name, markers in by_resource.items():
            with self.flocked(self.lease_path(resource_name, ".lock")):
                leases = self.read_leases(resource_name)
                expires = utc_now() + ttl
                renewed = [lease for lease in leases if lease.holder in markers]
                for lease in renewed:
                    lease.expires = expires
                    if lease.cancel_reason is not None:
                        cancelled[lease.holder] = lease.cancel_reason
                if renewed:
                    self.write_leases(resource_name, leases)
                for holder in markers.keys() - {lease.holder for lease in renewed}:
                    # left by a process killed between dropping a lease and its marker
                    (self.root / LEASE_HOLDER_FOLDER / markers[holder]).unlink(missing_ok=True)
        return cancelled

    def release_lease(self, resource: str, holder: str) -> bool:
        resource_name = lease_name(resource)
        with self.flocked(self.lease_path(resource_name, ".lock")):
            leases = self.read_leases(resource_name)
            kept = [lease for lease in leases if lease.holder != holder]
            if len(kept) == len(leases):
                return False
            self.write_leases(resource_name, kept)
            self.holder_marker_path(holder, resource).unlink(missing_ok=True)
        return True

    def list_leases(self, resource: str | None = None) -> list[Lease]:
        if resource is not None:
            names = [lease_name(resource)]
        else:
            names = [
                name.removesuffix(".json")
                for name in os.listdir(self.root / LEASE_FOLDER)
                if name.endswith(".json") and not name.startswith(TEMP_PREFIX)
            ]
        now = utc_now()
        found = [lease for name in names for lease in self.read_leases(name) if lease.expires >= now]
        found.sort(key=lambda lease: (lease.resource, lease.state is LeaseState.WAITING, lease.position))
        return found

    def close(self) -> None:
        """Nothing is held open between calls."""

    # -- pauses and run search (issue 26) ----------------------------------------------------

    def pause(self, workflow: str, by: str, at: datetime) -> bool:
        """Publish ``_paused/<workflow>`` with ``os.link`` (fails if it exists): one pauser wins."""
        path = self.root / PAUSED_FOLDER / safe_name(workflow)
        if path.exists():
            return False
        pause = WorkflowPause(workflow=workflow, paused_at=at.astimezone(UTC), by=by)
        temp = self.write_temp(path.parent, pause.model_dump_json().encode())
        try:
            os.link(temp, path)
        except FileExistsError:
            return False
        finally:
            temp.unlink(missing_ok=True)
        return True

    def unpause(self, workflow: str) -> bool:
        try:
            (self.root / PAUSED_FOLDER / safe_name(workflow)).unlink()
        except FileNotFoundError:
            return False
        return True

    def paused(self) -> dict[str, WorkflowPause]:
        found: dict[str, WorkflowPause] = {}
        for path in (self.root / PAUSED_FOLDER).iterdir():
            if path.name.startswith(TEMP_PREFIX):
                continue
            try:
                pause = WorkflowPause.model_validate_json(path.read_bytes())
            except FileNotFoundError:  # unpaused while listed
                continue
            found[pause.workflow] = pause
        return found

    def find(
        self, query: RunQuery, limit: int | None = None, after: ListPosition | None = None
    ) -> list[ReleaseRecord]:
        """Reads every record file (of one workflow, if given) and filters it here (a bounded
        store: thousands of runs, not millions); RUNNING reads only the ``_running`` records."""
        if limit is not None and limit < 0:
            raise ValueError("'limit' must not be negative")
        source = self.read_running() if query.status in ACTIVE_STATUSES else self.read_all(query.workflow)
        found = [
            record
            for record in source
            if query.matches(record) and (after is None or record.list_position < after)
        ]
        found.sort(key=lambda r: r.list_position, reverse=True)
        return found if limit is None else found[:limit]

    # -- log search (issue 26): a file of lines per run, scanned newest run first -------------

    def add_log_lines(self, run_id: str, workflow: str, lines: list[LogLine]) -> None:
        """One JSON-lines file per run, published whole (temp file, then rename)."""
        if not lines:
            return
        folder = self.root / LOG_FOLDER / safe_name(workflow)
        folder.mkdir(parents=True, exist_ok=True)
        data = "".join(
            json.dumps([line.time.timestamp(), line.event, line.message, line.job, line.strategy, line.stage])
            + "\n"
            for line in lines
        )
        self.replace_file(folder / f"{safe_name(run_id)}.jsonl", data.encode())

    def search_logs(
        self,
        text: str,
        workflow: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> list[LogLine]:
        """A scan of the runs' line files, the last written first, that stops at ``limit``
        matches or after :data:`~runwright.audit.MAX_SCANNED_LOG_LINES` lines. A run's file is
        written when it ends, so a file older than ``since`` holds no line after it."""
        words = check_search_text(text)
        base = self.root / LOG_FOLDER
        folders = [base / safe_name(workflow)] if workflow is not None else list(subfolders(base))
        files: list[tuple[float, Path, str]] = []
        for folder in folders:
            try:
                entries = list(os.scandir(folder))
            except FileNotFoundError:
                continue
            name = unquote(folder.name)
            for entry in entries:
                if entry.name.endswith(".jsonl") and not entry.name.startswith(TEMP_PREFIX):
                    files.append((entry.stat().st_mtime, Path(entry.path), name))
        files.sort(reverse=True)
        found: list[LogLine] = []
        scanned = 0
        for mtime, path, name in files:
            if since is not None and mtime < since.timestamp() or len(found) >= limit:
                break
            if scanned >= MAX_SCANNED_LOG_LINES:
                break
            run_id = unquote(path.name.removesuffix(".jsonl"))
            with path.open(encoding="utf-8") as handle:
                for raw in handle:
                    scanned += 1
                    at, event, message, job, strategy, stage = json.loads(raw)
                    line = LogLine(
                        run_id, name, datetime.fromtimestamp(at, UTC), event, message, job, strategy, stage
                    )
                    if line_matches(line, words, None, since, until):
                        found.append(line)
                    if scanned >= MAX_SCANNED_LOG_LINES:
                        break
        found.sort(key=lambda line: line.time, reverse=True)
        return found[: max(0, limit)]

    def read_all(self, workflow: str | None) -> Iterator[ReleaseRecord]:
        """Every record of one workflow, or of all (folders starting with ``_`` are indexes)."""
        if workflow is not None:
            workflow_folders = [self.root / safe_name(workflow)]
        else:
            workflow_folders = [folder for folder in subfolders(self.root) if not folder.name.startswith("_")]
        for workflow_folder in workflow_folders:
            for release_folder in subfolders(workflow_folder):
                yield from self.read_folder(release_folder)

    def read_running(self) -> Iterator[ReleaseRecord]:
        """The records named by active markers (the caller re-checks each record's status)."""
        for marker in (self.root / RUNNING_INDEX_FOLDER).iterdir():
            path = None if marker.name.startswith(TEMP_PREFIX) else self.path_named_by(marker)
            record = self.read(path) if path is not None else None
            if record is not None and safe_name(record.run_id) == marker.name:
                yield record

    def read_folder(self, folder: Path) -> Iterator[ReleaseRecord]:
        """The published attempt records of one release folder (temp and lock files skipped)."""
        try:
            names = os.listdir(folder)
        except FileNotFoundError:
            return
        for name in names:
            if ATTEMPT_FILE.fullmatch(name):
                record = self.read(folder / name)
                if record is not None:
                    yield record


def subfolders(folder: Path) -> Iterator[Path]:
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return
    for entry in entries:
        if entry.is_dir():
            yield Path(entry.path)
