"""Conformance of the lease protocol (concurrency groups, max-active-runs, pools) on every store.

Each test runs against the file, SQLite and PostgreSQL stores (tests/audit/conftest.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from runwright.audit import AuditBackend, Lease, LeaseRequest, LeaseState, ReleaseStatus

from tests.audit.conftest import BASE_TIME, hours, make_record
from tests.audit.test_processes import RACERS, outputs_of, run_together, started_together

TTL = timedelta(seconds=60)
ROUNDS = 3  # turns per process in the multi-process test


def ask(holder: str, capacity: int = 1, resource: str = "group:etl", **fields: object) -> LeaseRequest:
    values: dict[str, object] = {"run_id": holder.split("/")[0], "workflow": "etl"}
    values.update(fields)
    return LeaseRequest(resource=resource, holder=holder, capacity=capacity, **values)  # type: ignore[arg-type]


def states(backend: AuditBackend, resource: str = "group:etl") -> list[tuple[str, str]]:
    return [(lease.holder, lease.state.value) for lease in backend.list_leases(resource)]


def test_the_first_taker_holds_and_the_next_waits(backend: AuditBackend) -> None:
    assert backend.acquire_lease(ask("a"), TTL) is LeaseState.HELD
    assert backend.acquire_lease(ask("b"), TTL) is LeaseState.WAITING
    assert states(backend) == [("a", "held"), ("b", "waiting")]
    assert backend.acquire_lease(ask("a"), TTL) is LeaseState.HELD  # asking again renews
    assert backend.acquire_lease(ask("b"), TTL) is LeaseState.WAITING
    assert backend.release_lease("group:etl", "a") is True
    assert backend.release_lease("group:etl", "a") is False
    assert backend.acquire_lease(ask("b"), TTL) is LeaseState.HELD
    assert states(backend) == [("b", "held")]


def test_a_limit_of_two_holds_two(backend: AuditBackend) -> None:
    got = [backend.acquire_lease(ask(name, capacity=2), TTL) for name in "abc"]
    assert got == [LeaseState.HELD, LeaseState.HELD, LeaseState.WAITING]


def test_waiters_are_served_first_in_first_out(backend: AuditBackend) -> None:
    backend.acquire_lease(ask("a"), TTL)
    for name in "bcd":
        assert backend.acquire_lease(ask(name), TTL) is LeaseState.WAITING
    backend.release_lease("group:etl", "a")
    # c and d ask before b does: they stay behind it
    assert backend.acquire_lease(ask("d"), TTL) is LeaseState.WAITING
    assert backend.acquire_lease(ask("c"), TTL) is LeaseState.WAITING
    assert backend.acquire_lease(ask("b"), TTL) is LeaseState.HELD
    backend.release_lease("group:etl", "b")
    assert backend.acquire_lease(ask("d"), TTL) is LeaseState.WAITING
    assert backend.acquire_lease(ask("c"), TTL) is LeaseState.HELD
    assert states(backend) == [("c", "held"), ("d", "waiting")]


def test_weights_count_against_capacity_and_keep_the_queue_order(backend: AuditBackend) -> None:
    pool = "pool:warehouse"
    assert backend.acquire_lease(ask("a", 3, pool, weight=2), TTL) is LeaseState.HELD
    assert backend.acquire_lease(ask("b", 3, pool, weight=2), TTL) is LeaseState.WAITING
    # one slot is free, but b came first: c waits behind it rather than overtake
    assert backend.acquire_lease(ask("c", 3, pool, weight=1), TTL) is LeaseState.WAITING
    backend.release_lease(pool, "a")
    assert backend.acquire_lease(ask("b", 3, pool, weight=2), TTL) is LeaseState.HELD
    assert backend.acquire_lease(ask("c", 3, pool, weight=1), TTL) is LeaseState.HELD
    assert sum(lease.weight for lease in backend.list_leases(pool) if lease.state is LeaseState.HELD) == 3


def test_a_bounded_queue_refuses_a_newcomer_and_stores_nothing(backend: AuditBackend) -> None:
    backend.acquire_lease(ask("a", max_waiting=1), TTL)
    assert backend.acquire_lease(ask("b", max_waiting=1), TTL) is LeaseState.WAITING
    assert backend.acquire_lease(ask("c", max_waiting=1), TTL) is LeaseState.REFUSED
    assert states(backend) == [("a", "held"), ("b", "waiting")]
    assert backend.acquire_lease(ask("b", max_waiting=1), TTL) is LeaseState.WAITING  # already queued


def test_an_expired_lease_is_free_for_the_next_taker(backend: AuditBackend) -> None:
    backend.acquire_lease(ask("dead"), timedelta(seconds=0.3))
    assert backend.acquire_lease(ask("b"), TTL) is LeaseState.WAITING
    time.sleep(0.5)
    assert states(backend) == [("b", "waiting")]  # the expired one is not listed
    assert backend.acquire_lease(ask("b"), TTL) is LeaseState.HELD


def test_renewing_keeps_a_lease_past_its_first_expiry(backend: AuditBackend) -> None:
    backend.acquire_lease(ask("alive"), timedelta(seconds=0.3))
    assert backend.renew_leases(["alive"], TTL) == {}
    time.sleep(0.5)
    assert backend.acquire_lease(ask("b"), TTL) is LeaseState.WAITING
    assert [lease.holder for lease in backend.list_leases()] == ["alive", "b"]


def test_a_holder_whose_lease_expired_takes_it_again_and_can_renew_it(backend: AuditBackend) -> None:
    backend.acquire_lease(ask("late"), timedelta(seconds=0.3))
    time.sleep(0.5)
    assert backend.acquire_lease(ask("late"), timedelta(seconds=0.3)) is LeaseState.HELD
    assert backend.renew_leases(["late"], TTL) == {}
    time.sleep(0.5)
    assert states(backend) == [("late", "held")]


def test_renewing_covers_every_resource_of_a_holder(backend: AuditBackend) -> None:
    backend.acquire_lease(ask("r/job", resource="pool:a"), timedelta(seconds=0.3))
    backend.acquire_lease(ask("r/job", resource="group:b"), timedelta(seconds=0.3))
    backend.renew_leases(["r/job", "unknown"], TTL)
    time.sleep(0.5)
    assert {lease.resource for lease in backend.list_leases()} == {"pool:a", "group:b"}


def test_preempting_asks_holders_and_earlier_waiters_to_cancel(backend: AuditBackend) -> None:
    backend.acquire_lease(ask("old"), TTL)
    backend.acquire_lease(ask("queued"), TTL)
    assert backend.acquire_lease(ask("new", preempt=True), TTL) is LeaseState.WAITING
    reasons = backend.renew_leases(["old", "queued", "new"], TTL)
    assert set(reasons) == {"old", "queued"}
    assert "new" in reasons["old"] and "cancel-in-progress" in reasons["old"]
    # the cancelled waiter no longer stands in front; the holder does until it releases
    assert backend.acquire_lease(ask("new", preempt=True), TTL) is LeaseState.WAITING
    backend.release_lease("group:etl", "old")
    assert backend.acquire_lease(ask("new", preempt=True), TTL) is LeaseState.HELD


def test_preempting_a_limit_of_two_cancels_only_the_oldest_holder(backend: AuditBackend) -> None:
    backend.acquire_lease(ask("first", capacity=2), TTL)
    backend.acquire_lease(ask("second", capacity=2), TTL)
    backend.acquire_lease(ask("third", capacity=2, preempt=True), TTL)
    assert set(backend.renew_leases(["first", "second"], TTL)) == {"first"}


@pytest.mark.parametrize("resource", ["group:team/etl=1", "pool:../..", "group:" + "é" * 300])
def test_resources_and_holders_of_any_name_are_kept_apart(backend: AuditBackend, resource: str) -> None:
    holder = "run-1/" + "job=/" * 80
    assert backend.acquire_lease(ask(holder, resource=resource), timedelta(seconds=0.3)) is LeaseState.HELD
    assert backend.acquire_lease(ask("other", resource=resource + "x"), TTL) is LeaseState.HELD
    assert backend.acquire_lease(ask("next", resource=resource), TTL) is LeaseState.WAITING
    backend.renew_leases([holder], TTL)
    time.sleep(0.5)
    assert [(lease.resource, lease.holder) for lease in backend.list_leases(resource)] == [
        (resource, holder),
        (resource, "next"),
    ]
    assert backend.release_lease(resource, holder) is True
    assert backend.acquire_lease(ask("next", resource=resource), TTL) is LeaseState.HELD


def test_leases_are_listed_with_what_they_are_for(backend: AuditBackend) -> None:
    backend.acquire_lease(ask("run-1/load/0", 2, "pool:db", weight=2, run_id="run-1", workflow="w"), TTL)
    (lease,) = backend.list_leases("pool:db")
    assert isinstance(lease, Lease)
    assert (lease.run_id, lease.workflow, lease.weight, lease.state) == ("run-1", "w", 2, LeaseState.HELD)
    assert lease.expires.tzinfo is not None
    assert backend.list_leases("pool:other") == []


def test_threads_racing_for_three_slots_get_exactly_three(backend: AuditBackend) -> None:
    results: list[LeaseState] = []
    barrier = threading.Barrier(12)

    def take(name: str) -> None:
        barrier.wait(10)
        results.append(backend.acquire_lease(ask(name, capacity=3), TTL))

    threads = [threading.Thread(target=take, args=(f"t{i}",)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results.count(LeaseState.HELD) == 3
    assert results.count(LeaseState.WAITING) == 9
    held = [lease for lease in backend.list_leases("group:etl") if lease.state is LeaseState.HELD]
    assert len(held) == 3


def test_two_backends_on_one_store_share_the_slots(
    backend: AuditBackend, open_backend: Callable[[str], AuditBackend], audit_url: str
) -> None:
    other = open_backend(audit_url)
    assert backend.acquire_lease(ask("a"), TTL) is LeaseState.HELD
    assert other.acquire_lease(ask("b"), TTL) is LeaseState.WAITING
    backend.release_lease("group:etl", "a")
    assert other.acquire_lease(ask("b"), TTL) is LeaseState.HELD


def test_processes_racing_for_two_slots_get_exactly_two(
    audit_url: str, tmp_path: Path, open_backend: Callable[[str], AuditBackend]
) -> None:
    """RACERS real processes ask for one resource of capacity 2 at the same moment."""
    stop = tmp_path / "stop"
    with started_together(tmp_path, "lease", audit_url, "group:raced", "2", str(stop)) as workers:
        got = [worker.stdout.readline().strip() for worker in workers]  # type: ignore[union-attr]
        leases = open_backend(audit_url).list_leases("group:raced")
        stop.touch()
        outputs_of(workers)
    assert sorted(got) == ["held"] * 2 + ["waiting"] * (RACERS - 2)
    assert [lease.state.value for lease in leases] == ["held"] * 2 + ["waiting"] * (RACERS - 2)
    holders = {str(worker.pid) for worker, state in zip(workers, got, strict=True) if state == "held"}
    assert {lease.holder for lease in leases if lease.state is LeaseState.HELD} == holders


def test_processes_taking_turns_never_hold_more_than_the_capacity(
    audit_url: str, tmp_path: Path, open_backend: Callable[[str], AuditBackend]
) -> None:
    """RACERS processes each take a slot of capacity 2 three times, logging when they hold one:
    every turn is taken, and at no point of the log are more than 2 inside."""
    log = tmp_path / "turns.log"
    log.touch()
    outputs = run_together(tmp_path, "turns", audit_url, "group:turns", "2", str(ROUNDS), str(log))
    assert [stdout.strip() for stdout, _ in outputs] == ["done"] * RACERS
    inside: set[str] = set()
    most = 0
    lines = log.read_text().splitlines()
    for line in lines:
        sign, holder = line.split()
        if sign == "+":
            inside.add(holder)
        else:
            inside.remove(holder)
        most = max(most, len(inside))
    assert len(lines) == 2 * ROUNDS * RACERS
    assert most <= 2
    assert open_backend(audit_url).list_leases("group:turns") == []


@pytest.mark.parametrize("bad", [{"capacity": 0}, {"weight": 0}, {"max_waiting": -1}])
def test_a_request_out_of_range_is_refused_before_the_store(bad: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        ask("a", **bad)  # type: ignore[arg-type]


# -- QUEUED records: a run waiting for a slot is as alive as a running one ---------------------


def test_a_queued_record_heartbeats_crashes_and_starts_like_a_running_one(backend: AuditBackend) -> None:
    queued = make_record(status=ReleaseStatus.QUEUED)
    assert backend.claim(queued)
    later = BASE_TIME + hours(1)
    backend.heartbeat(queued.run_id, later)
    assert backend.get(queued.run_id).heartbeat == later  # type: ignore[union-attr]
    assert [r.run_id for r in backend.list(status=ReleaseStatus.QUEUED)] == [queued.run_id]
    # no second attempt while one waits
    assert backend.claim_next_attempt(make_record()) is None
    started = queued.model_copy(update={"status": ReleaseStatus.RUNNING})
    assert backend.update(started, expect_running=True) is True
    assert backend.list(status=ReleaseStatus.QUEUED) == []
    assert backend.mark_crashed(queued.run_id, "gone") is True

    waiting = make_record(attempt=2, status=ReleaseStatus.QUEUED)
    assert backend.claim(waiting)
    assert backend.mark_crashed(waiting.run_id, "its process is gone") is True
    assert backend.get(waiting.run_id).status is ReleaseStatus.CRASHED  # type: ignore[union-attr]
    assert backend.update(waiting, expect_running=True) is False
