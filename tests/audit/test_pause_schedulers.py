"""Pause honoured by two real scheduler processes sharing one audit store (issue 26), on each
store kind: file, SQLite, PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from runwright.audit import make_audit_backend

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def at(m: float) -> datetime:
    return T0 + timedelta(minutes=m)


PACED = """
pacer:
  type: Workflow
  on: [{{cronjob: "* * * * *"}}]
  jobs:
    j:
      stages:
        - id: wait-for-the-test
          bash: |
            for i in $(seq 1200); do [ -e "{gates}/${{{{ release.logical_date }}}}" ] && exit 0; sleep 0.05; done
            exit 1
target:
  type: Workflow
  on: [{{cronjob: "* * * * *"}}]
  jobs:
    j: {{stages: [{{id: s, echo: "${{{{ release.logical_date }}}}"}}]}}
"""


def test_two_scheduler_processes_sharing_a_store_honour_pause_and_unpause(
    conf, tmp_path, monkeypatch, audit_url: str
) -> None:
    """Two real scheduler processes on one store (each kind), their simulated clocks paced by the test:
    each runs one release at a time (``--workers 1``) and ``pacer``'s release at minute k waits
    for the test to open gate k, so both processes are always within two ticks of the gates. The
    CLI pauses ``target`` while they run, and unpauses it later. On every store kind."""
    from runwright.audit import ReleaseStatus

    from tests.conftest import run_cli
    from tests.test_scheduler_processes import scheduler_process

    monkeypatch.setenv("RUNWRIGHT_AUDIT_URL", audit_url)
    gates = tmp_path / "gates"
    gates.mkdir()
    folder = conf(PACED.format(gates=gates))
    store = make_audit_backend(audit_url)

    def released(workflow: str) -> list[int]:
        return sorted(int(r.release.minute) for r in store.list(workflow=workflow))

    def open_gate(minute: int) -> None:
        (gates / at(minute).isoformat()).touch()

    def wait_for_pacer(minute: int) -> None:
        for _ in range(1200):  # bounded: 60 s
            if minute in released("pacer"):
                return
            threading.Event().wait(0.05)
        raise AssertionError(f"pacer @ minute {minute} was never claimed; pacer: {released('pacer')}")

    def wait_for_target(minutes: list[int]) -> None:
        """A tick's two releases are claimed in one batch, but a store writes them one by one:
        ``pacer`` can be seen a moment before ``target`` of the same tick (the file store)."""
        for _ in range(1200):  # bounded: 60 s
            if released("target") == minutes:
                return
            threading.Event().wait(0.05)
        assert released("target") == minutes

    args = ("--simulate-from", at(0.5).isoformat(), "--until", at(20.5).isoformat(), "--workers", "1")
    processes = [scheduler_process(folder, *args), scheduler_process(folder, *args)]
    try:
        wait_for_pacer(2)  # one process holds minute 1, the other minute 2
        for minute in (1, 2):
            open_gate(minute)
            wait_for_pacer(minute + 2)
        wait_for_target([1, 2, 3, 4])
        paused = run_cli("pause", "target", "--conf", str(folder))
        assert paused.returncode == 0 and "paused target" in paused.stdout, paused.stderr
        for minute in range(3, 9):  # the processes reach minutes 5 .. 10 while it is paused
            open_gate(minute)
            wait_for_pacer(minute + 2)
        assert released("target") == [1, 2, 3, 4]
        unpaused = run_cli("unpause", "target", "--conf", str(folder))
        assert unpaused.returncode == 0 and "unpaused target" in unpaused.stdout, unpaused.stderr
        for minute in range(9, 22):
            open_gate(minute)
        outputs = [process.communicate(timeout=120) for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
    for process, (_, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err
    assert any("target is paused" in err for _, err in outputs)
    # 5 .. 9 were missed while paused; the first wake after unpause is minute 10, whose latest
    # missed tick is 10 itself (no catch-up window): nothing of 5 .. 9 ever runs
    assert released("target") == [1, 2, 3, 4, *range(10, 21)]
    assert released("pacer") == list(range(1, 21))
    assert all(r.status is ReleaseStatus.SUCCESS for r in store.list(limit=1000))
