"""A separate process that uses an audit backend, for the multi-process tests.

python backend_worker.py race URL WORKFLOW RELEASES READY_FILE GO_FILE
    Claim attempt 1 of RELEASES hourly releases of WORKFLOW, each with this process's own
    run ids; print the indexes it won as one JSON list. Creates READY_FILE once the backend
    is open, then waits (at most 30 s) for GO_FILE so that every racer starts together.

python backend_worker.py retry URL WORKFLOW RELEASES READY_FILE GO_FILE
    Like race, but with ``claim_next_attempt``; the first attempt of an even release fails,
    every other one succeeds; two passes over the releases. Prints the (index, attempt) won.

python backend_worker.py open URL READY_FILE GO_FILE
    Wait for GO_FILE, then open the (new) store: many processes creating one store together.

python backend_worker.py churn URL WORKFLOW
    Claim and update large records forever, printing each finished index, until killed.

python backend_worker.py lease URL RESOURCE CAPACITY STOP_FILE READY_FILE GO_FILE
    Ask once for a slot of RESOURCE (this process's pid is the holder) and print what it got
    (held, waiting, refused); then keep the lease until STOP_FILE exists (at most 30 s).

python backend_worker.py turns URL RESOURCE CAPACITY ROUNDS LOG_FILE READY_FILE GO_FILE
    ROUNDS times: wait for a slot of RESOURCE (asking again every 20 ms, at most 60 s), append
    "+ holder" to LOG_FILE, hold it a little, append "- holder" and release it. Prints "done".
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from runwright.audit import LeaseRequest, LeaseState, ReleaseRecord, ReleaseStatus, make_audit_backend

FIRST_RELEASE = datetime(2024, 1, 1, tzinfo=UTC)
START_WAIT_SECONDS = 30.0
LEASE_TTL = timedelta(seconds=30)


def wait_for(path: Path, seconds: float = START_WAIT_SECONDS) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"{path.name} never appeared")
        time.sleep(0.005)


def race(url: str, workflow: str, releases: int, ready_file: Path, go_file: Path) -> None:
    backend = make_audit_backend(url)
    ready_file.touch()
    deadline = time.monotonic() + START_WAIT_SECONDS
    while not go_file.exists():
        if time.monotonic() > deadline:
            raise SystemExit("never told to start")
        time.sleep(0.005)
    won = []
    for index in range(releases):
        record = ReleaseRecord(
            workflow=workflow,
            release=FIRST_RELEASE + timedelta(hours=index),
            run_id=f"{os.getpid()}-{index}-{uuid.uuid4().hex[:8]}",
        )
        if backend.claim(record):
            won.append(index)
    backend.close()
    print(json.dumps(won), flush=True)


def retry(url: str, workflow: str, releases: int, ready_file: Path, go_file: Path) -> None:
    backend = make_audit_backend(url)
    ready_file.touch()
    deadline = time.monotonic() + START_WAIT_SECONDS
    while not go_file.exists():
        if time.monotonic() > deadline:
            raise SystemExit("never told to start")
        time.sleep(0.005)
    won = []
    for index in [*range(releases), *range(releases)]:
        record = ReleaseRecord(
            workflow=workflow,
            release=FIRST_RELEASE + timedelta(hours=index),
            run_id=f"{os.getpid()}-{index}-{uuid.uuid4().hex[:8]}",
        )
        claimed = backend.claim_next_attempt(record)
        if claimed is not None:
            fails = claimed.attempt == 1 and index % 2 == 0
            status = ReleaseStatus.FAILED if fails else ReleaseStatus.SUCCESS
            assert backend.update(claimed.model_copy(update={"status": status}), expect_running=True)
            won.append([index, claimed.attempt])
    backend.close()
    print(json.dumps(won), flush=True)


def open_together(url: str, ready_file: Path, go_file: Path) -> None:
    ready_file.touch()
    deadline = time.monotonic() + START_WAIT_SECONDS
    while not go_file.exists():
        if time.monotonic() > deadline:
            raise SystemExit("never told to start")
        time.sleep(0.001)
    backend = make_audit_backend(url)
    backend.list(limit=1)
    backend.close()
    print("opened", flush=True)


def churn(url: str, workflow: str) -> None:
    """Big records (~300 KB) so that a kill very likely lands in the middle of a write."""
    backend = make_audit_backend(url)
    payload = {f"row-{i}": "x" * 300 for i in range(1000)}
    for index in range(1_000_000):
        record = ReleaseRecord(
            workflow=workflow,
            release=FIRST_RELEASE + timedelta(hours=index),
            run_id=f"churn-{os.getpid()}-{index}",
            context={"step": 0, "payload": payload},
        )
        backend.claim(record)
        for step in range(1, 4):
            backend.heartbeat(record.run_id, datetime.now(UTC))
            backend.update(record.model_copy(update={"context": {"step": step, "payload": payload}}))
        backend.update(record.model_copy(update={"status": ReleaseStatus.SUCCESS}))
        print(index, flush=True)


def lease_request(resource: str, holder: str, capacity: int) -> LeaseRequest:
    return LeaseRequest(resource=resource, holder=holder, capacity=capacity, run_id=holder, workflow="racers")


def lease_once(
    url: str, resource: str, capacity: int, stop_file: Path, ready_file: Path, go_file: Path
) -> None:
    backend = make_audit_backend(url)
    backend.list_leases(resource)  # connect (and migrate) before the race, not in it
    ready_file.touch()
    wait_for(go_file)
    state = backend.acquire_lease(lease_request(resource, str(os.getpid()), capacity), LEASE_TTL)
    print(state.value, flush=True)
    wait_for(stop_file)
    backend.close()


def take_turns(
    url: str, resource: str, capacity: int, rounds: int, log_file: Path, ready_file: Path, go_file: Path
) -> None:
    backend = make_audit_backend(url)
    backend.list_leases(resource)
    ready_file.touch()
    wait_for(go_file)
    for round_ in range(rounds):
        request = lease_request(resource, f"{os.getpid()}-{round_}", capacity)
        deadline = time.monotonic() + 60
        while backend.acquire_lease(request, LEASE_TTL) is not LeaseState.HELD:
            if time.monotonic() > deadline:
                raise SystemExit(f"no slot of {resource} within 60 s")
            time.sleep(0.02)
        with log_file.open("a") as log:  # one small append each: lines never interleave
            log.write(f"+ {request.holder}\n")
        time.sleep(0.01)
        with log_file.open("a") as log:
            log.write(f"- {request.holder}\n")
        assert backend.release_lease(resource, request.holder)
    backend.close()
    print("done", flush=True)


if __name__ == "__main__":
    mode, *args = sys.argv[1:]
    if mode == "race":
        race(args[0], args[1], int(args[2]), Path(args[3]), Path(args[4]))
    elif mode == "retry":
        retry(args[0], args[1], int(args[2]), Path(args[3]), Path(args[4]))
    elif mode == "open":
        open_together(args[0], Path(args[1]), Path(args[2]))
    elif mode == "churn":
        churn(args[0], args[1])
    elif mode == "lease":
        lease_once(args[0], args[1], int(args[2]), Path(args[3]), Path(args[4]), Path(args[5]))
    elif mode == "turns":
        take_turns(args[0], args[1], int(args[2]), int(args[3]), Path(args[4]), Path(args[5]), Path(args[6]))
    else:
        raise SystemExit(f"unknown mode {mode!r}")
