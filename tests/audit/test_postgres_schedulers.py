"""Several schedulers on one PostgreSQL store: each tick released exactly once; a SIGKILLed one's
release is marked CRASHED and re-released once (what a multi-host deployment relies on)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from runwright.audit import ReleaseStatus

from tests.conftest import REPO, wait_for_file

T0 = datetime(2024, 1, 1, tzinfo=UTC)
WORKFLOWS = 10
MINUTES = 100  # 10 workflows x 100 minutes = 1,000 ticks


def scheduler(folder: Path, url: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "RUNWRIGHT_AUDIT_URL": url, "RUNWRIGHT_LOG_PATH": str(folder.parent / "logs")}
    return subprocess.Popen(
        [sys.executable, "-m", "runwright", "scheduler", "--conf", str(folder), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )


def test_three_schedulers_release_a_thousand_ticks_exactly_once(
    postgres_server, open_backend, tmp_path: Path
) -> None:
    url = postgres_server.database_url(f"sched_{uuid.uuid4().hex[:12]}")
    folder = tmp_path / "conf"
    folder.mkdir()
    (folder / "ticks.yml").write_text(
        "".join(
            textwrap.dedent(f"""
            tick-{n}:
              type: Workflow
              on: [{{cronjob: "* * * * *"}}]
              jobs:
                j: {{stages: [{{id: s, echo: "tick {n}"}}]}}
            """)
            for n in range(WORKFLOWS)
        ),
        encoding="utf-8",
    )
    window = ("--simulate-from", T0.isoformat(), "--until", (T0 + timedelta(minutes=MINUTES)).isoformat())
    processes = [scheduler(folder, url, *window, "--workers", "4") for _ in range(3)]
    for process in processes:
        _, err = process.communicate(timeout=600)
        assert process.returncode == 0, err
    records = open_backend(url).list(limit=100_000)
    keys = [(r.workflow, r.release) for r in records]
    assert len(keys) == len(set(keys)) == WORKFLOWS * MINUTES  # every tick of every workflow, once
    assert all(r.attempt == 1 and r.status is ReleaseStatus.SUCCESS for r in records)
    # every release was made by one of these three; how they shared the ticks depends on which
    # started first (one may release all 1,000), so only exactly-once is asserted
    assert {r.pid for r in records} <= {process.pid for process in processes}


def test_a_sigkilled_scheduler_release_is_crashed_and_released_once_more(
    postgres_server, open_backend, tmp_path: Path
) -> None:
    url = postgres_server.database_url(f"crash_{uuid.uuid4().hex[:12]}")
    log, allow, started = tmp_path / "runs.log", tmp_path / "allow", tmp_path / "started"
    folder = tmp_path / "conf"
    folder.mkdir()
    (folder / "crashy.yml").write_text(
        textwrap.dedent(f"""
        crashy:
          type: Workflow
          on: [{{cronjob: "* * * * *", retry-crashed: true}}]
          jobs:
            j:
              stages:
                - id: s
                  bash: |
                    echo "$RUNWRIGHT_RUN_ID" >> {log}
                    [ -e {allow} ] || {{ touch {started}; sleep 60; }}
        """),
        encoding="utf-8",
    )
    window = (
        "--simulate-from", (T0 + timedelta(seconds=30)).isoformat(),
        "--until", (T0 + timedelta(minutes=1, seconds=30)).isoformat(),
        "--heartbeat-seconds", "0.2",
    )  # fmt: skip
    victim = scheduler(folder, url, *window)
    assert wait_for_file(started, timeout=60), victim.stderr.read() if victim.poll() is not None else ""
    store = open_backend(url)
    [running] = store.list(workflow="crashy")
    assert running.status is ReleaseStatus.RUNNING and running.pid == victim.pid
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    allow.touch()
    subprocess.run(["pkill", "-f", str(started)], check=False)  # the killed scheduler's orphaned sleep
    restarted = scheduler(folder, url, *window)
    _, err = restarted.communicate(timeout=120)
    assert restarted.returncode == 0, err
    attempts = store.attempts("crashy", T0 + timedelta(minutes=1))
    assert [(a.attempt, a.status.value) for a in attempts] == [(1, "CRASHED"), (2, "SUCCESS")]
    assert attempts[1].parent_run_id == attempts[0].run_id
    assert log.read_text().split() == [attempts[0].run_id, attempts[1].run_id]


def test_migrate_creates_and_refuses_other_versions_and_bad_hosts_are_one_line(postgres_server) -> None:
    """`runwright audit migrate` applies the steps once; an old schema is refused until migrated;
    an unreachable server is one clear line (exit 2), never a driver traceback."""
    import psycopg

    from tests.conftest import run_cli

    url = postgres_server.database_url(f"mig_{uuid.uuid4().hex[:12]}")
    first = run_cli("audit", "migrate", env={"RUNWRIGHT_AUDIT_URL": url})
    assert first.returncode == 0 and "migrations applied: 1, 2, 3, 4" in first.stdout, first.stderr
    again = run_cli("audit", "migrate", env={"RUNWRIGHT_AUDIT_URL": url})
    assert "none (already up to date)" in again.stdout
    with psycopg.connect(url, autocommit=True) as pg:  # pretend an older runwright made this store
        pg.execute("DELETE FROM runwright_schema_version")
        pg.execute("INSERT INTO runwright_schema_version VALUES (0), (-1)")
        pg.execute("UPDATE runwright_schema_version SET version = -1")
    old = run_cli("audit", "list", env={"RUNWRIGHT_AUDIT_URL": url})
    assert old.returncode == 2 and "run `runwright audit migrate`" in old.stderr, old.stderr
    unreachable = run_cli("audit", "list", env={"RUNWRIGHT_AUDIT_URL": "postgresql://u:pw123456@127.0.0.1:1/x"})
    assert unreachable.returncode == 2
    assert "cannot connect to audit store" in unreachable.stderr and "Traceback" not in unreachable.stderr
    assert "pw123456" not in unreachable.stderr


def test_a_store_of_schema_1_is_migrated_to_leases_and_keeps_its_records(postgres_server) -> None:
    """A store made before leases: refused until `audit migrate`, which adds the leases table and
    keeps every record; afterwards a QUEUED record can be marked CRASHED and a lease taken."""
    import psycopg
    from runwright.audit import LeaseRequest, LeaseState, ReleaseRecord, make_audit_backend
    from runwright_audit_postgres.backend import MIGRATIONS, PostgresAuditBackend

    from tests.conftest import run_cli

    url = postgres_server.database_url(f"mig1_{uuid.uuid4().hex[:12]}")
    with psycopg.connect(url, autocommit=True) as pg:  # what runwright with schema 1 made
        pg.execute("CREATE TABLE runwright_schema_version (version integer NOT NULL)")
        pg.execute(MIGRATIONS[1])
        pg.execute("INSERT INTO runwright_schema_version VALUES (1)")
    old_store = PostgresAuditBackend(url, check_schema=False)
    running = ReleaseRecord(workflow="etl", release=T0, run_id="kept-1")
    assert old_store.claim(running)
    old_store.close()

    refused = run_cli("audit", "list", env={"RUNWRIGHT_AUDIT_URL": url})
    assert refused.returncode == 2 and "run `runwright audit migrate`" in refused.stderr, refused.stderr
    migrated = run_cli("audit", "migrate", env={"RUNWRIGHT_AUDIT_URL": url})
    assert migrated.returncode == 0 and "migrations applied: 2, 3, 4" in migrated.stdout, migrated.stderr

    store = make_audit_backend(url)
    try:
        assert store.get("kept-1") == running
        queued = ReleaseRecord(workflow="etl", release=T0 + timedelta(hours=1), run_id="q-1", status="QUEUED")
        assert store.claim(queued)
        assert store.mark_crashed("q-1", "its process is gone") is True
        ask = LeaseRequest(resource="group:etl", holder="kept-1", capacity=1, run_id="kept-1", workflow="etl")
        assert store.acquire_lease(ask, timedelta(seconds=30)) is LeaseState.HELD
    finally:
        store.close()
