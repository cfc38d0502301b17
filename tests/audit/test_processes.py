"""Real processes against one store: racing claims, and a writer killed with SIGKILL."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from runwright.audit import AuditBackend, ReleaseRecord, ReleaseStatus

from tests.audit.backend_worker import FIRST_RELEASE
from tests.audit.conftest import make_record

if TYPE_CHECKING:
    import psycopg

WORKER = Path(__file__).with_name("backend_worker.py")
RACERS = 8
RELEASES = 200
KILLS = 3


def start_worker(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def wait_for_files(paths: list[Path], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not all(path.exists() for path in paths):
        assert time.monotonic() < deadline, "workers did not get ready in time"
        time.sleep(0.01)


@contextmanager
def started_together(tmp_path: Path, mode: str, *args: str) -> Iterator[list[subprocess.Popen[str]]]:
    """Start RACERS workers, let them all get ready, release them at once; killed on leaving."""
    ready = [tmp_path / f"ready-{n}" for n in range(RACERS)]
    go = tmp_path / "go"
    workers = [start_worker(mode, *args, str(ready[n]), str(go)) for n in range(RACERS)]
    try:
        wait_for_files(ready, timeout=30)
        go.touch()
        yield workers
    finally:
        for worker in workers:
            worker.kill()


def outputs_of(workers: list[subprocess.Popen[str]]) -> list[tuple[str, str]]:
    """Wait for the workers to end; each must have ended well. Their (stdout, stderr)."""
    outputs = [worker.communicate(timeout=60) for worker in workers]
    for worker, (_, stderr) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, stderr
    return outputs


def run_together(tmp_path: Path, mode: str, *args: str) -> list[tuple[str, str]]:
    """Start RACERS workers together; their outputs."""
    with started_together(tmp_path, mode, *args) as workers:
        return outputs_of(workers)


def test_racing_processes_claim_each_release_exactly_once(
    audit_url: str, tmp_path: Path, open_backend: Callable[[str], AuditBackend]
) -> None:
    outputs = run_together(tmp_path, "race", audit_url, "contended", str(RELEASES))

    wins = Counter(index for stdout, _ in outputs for index in json.loads(stdout))
    assert sorted(wins) == list(range(RELEASES))
    assert set(wins.values()) == {1}, [index for index, n in wins.items() if n != 1]
    print("releases won per process:", [len(json.loads(stdout)) for stdout, _ in outputs])

    backend = open_backend(audit_url)
    stored = backend.list(workflow="contended")
    assert len(stored) == RELEASES
    assert len({record.release for record in stored}) == RELEASES
    for record in stored:
        assert backend.get(record.run_id) == record


def test_racing_processes_claim_next_attempts_without_running_a_release_twice(
    audit_url: str, tmp_path: Path, open_backend: Callable[[str], AuditBackend]
) -> None:
    """8 processes retry the same releases: a new attempt only once the last one failed."""
    outputs = run_together(tmp_path, "retry", audit_url, "retried", str(RELEASES // 2))

    claimed = Counter((index, attempt) for stdout, _ in outputs for index, attempt in json.loads(stdout))
    assert set(claimed.values()) == {1}  # no attempt claimed by two processes
    backend = open_backend(audit_url)
    for index in range(RELEASES // 2):
        attempts = backend.attempts("retried", FIRST_RELEASE + timedelta(hours=index))
        statuses = [record.status for record in attempts]
        assert statuses.count(ReleaseStatus.SUCCESS) <= 1, (index, statuses)
        assert ReleaseStatus.RUNNING not in statuses
        if index % 2:  # succeeds at once: never a second attempt
            assert statuses == [ReleaseStatus.SUCCESS], (index, statuses)
        else:  # fails once; at most one retry, and it succeeds
            assert statuses in ([ReleaseStatus.FAILED], [ReleaseStatus.FAILED, ReleaseStatus.SUCCESS])
            assert [record.attempt for record in attempts] == list(range(1, len(attempts) + 1))


@pytest.mark.parametrize("round_", range(2))
def test_many_processes_can_create_one_new_store_together(
    audit_url: str, tmp_path: Path, round_: int
) -> None:
    """Two schedulers started together on a store that does not exist yet both come up."""
    outputs = run_together(tmp_path, "open", audit_url)
    assert [stdout.strip() for stdout, _ in outputs] == ["opened"] * RACERS


def wait_for_other_sessions_to_end(pg: psycopg.Connection[tuple[object, ...]], timeout: float = 20) -> None:
    """A killed client's last COMMIT, once the server has it, still lands after the client is gone.

    The server's session ends only when that commit is done and it finds the socket closed, so
    the store is read once no other session is left on this test's own database.
    """
    deadline = time.monotonic() + timeout
    others = (  # client sessions only: an autovacuum worker may be busy on the churned table
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
    )
    while (row := pg.execute(others).fetchone()) and row[0]:
        assert time.monotonic() < deadline, "a killed writer's session is still open on the server"
        time.sleep(0.02)


def run_ids_read_from_the_store(audit_url: str) -> set[str]:
    """Read the store directly, not through the backend: every record must parse in full."""
    if audit_url.startswith("file://"):
        root = Path(audit_url.removeprefix("file://"))
        files = sorted(root.glob("*/*/attempt-*.json"))
        return {ReleaseRecord.model_validate_json(path.read_bytes()).run_id for path in files}
    if audit_url.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(audit_url, autocommit=True) as pg:
            wait_for_other_sessions_to_end(pg)
            documents = [row[0] for row in pg.execute("SELECT record FROM runwright_releases")]
        return {ReleaseRecord.model_validate(document).run_id for document in documents}
    connection = sqlite3.connect(audit_url.removeprefix("sqlite:///"))
    try:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        rows = connection.execute("SELECT run_id, params, context, errors FROM releases").fetchall()
    finally:
        connection.close()
    for _, *documents in rows:
        for document in documents:
            json.loads(document)
    return {run_id for run_id, *_ in rows}


@pytest.mark.parametrize("kill_after_records", [1, 4])
def test_a_killed_writer_leaves_only_complete_records(
    audit_url: str, open_backend: Callable[[str], AuditBackend], kill_after_records: int
) -> None:
    for round_ in range(KILLS):
        writer = start_worker("churn", audit_url, f"churn-{round_}")
        try:
            assert writer.stdout is not None
            for _ in range(kill_after_records):
                line = writer.stdout.readline()
                assert line, writer.stderr.read() if writer.stderr else ""
            time.sleep(0.003 * round_)  # land the kill at different points of the write loop
            writer.send_signal(signal.SIGKILL)
            writer.wait(timeout=10)
        finally:
            writer.kill()
            writer.communicate(timeout=10)
        assert writer.returncode == -signal.SIGKILL

    on_disk = run_ids_read_from_the_store(audit_url)
    backend = open_backend(audit_url)
    listed = backend.list()
    assert {record.run_id for record in listed} == on_disk
    assert len(on_disk) >= KILLS * kill_after_records
    for record in listed:
        assert backend.get(record.run_id) == record
        assert record.context["step"] in (0, 1, 2, 3)
        assert len(record.context["payload"]) == 1000

    # a record the killed writer left RUNNING can be reaped, and the store still takes writes
    running = backend.list(status=ReleaseStatus.RUNNING)
    assert running == [record for record in listed if record.status == ReleaseStatus.RUNNING]
    assert len(running) <= KILLS
    for record in running:
        assert backend.mark_crashed(record.run_id, "writer was killed")
    fresh = make_record(workflow="after-the-crash")
    assert backend.claim(fresh)
    backend.update(fresh.model_copy(update={"status": ReleaseStatus.SUCCESS}))
    assert backend.get(fresh.run_id).status == ReleaseStatus.SUCCESS  # type: ignore[union-attr]
