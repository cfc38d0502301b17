"""Concurrency slots kept as leases in the audit store, so every process sharing it keeps one limit.

A claimant (a run for its ``concurrency:`` group and ``max-active-runs``, a job or stage for its
group or pool) asks the store for a lease; it holds, waits in line, or is refused. One thread
per process (:class:`LeaseKeeper`) renews every lease the process holds or waits for, about
every second, so a lease outlives a SIGKILLed holder by at most ``RUNWRIGHT_LEASE_SECONDS``
(default 30); the same renewal brings back cancel requests from preempting claimants
(``cancel-in-progress``). A waiter asks again with a growing back-off capped at
:data:`MAX_POLL_SECONDS`, and at once when a lease of its own process is released, so a freed
slot is taken within a second by any process.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from runwright.audit import AuditBackend, LeaseRequest, LeaseState, lease_decision
from runwright.config import lease_seconds
from runwright.engine.slots import SlotClaim, SlotVerdict
from runwright.errors import RunwrightError

if TYPE_CHECKING:
    from runwright.engine.context import CancelScope
    from runwright.runtime import Runtime

FIRST_POLL_SECONDS = 0.02
MAX_POLL_SECONDS = 0.5
"""A waiter asks the store again at most this long after its last ask (cross-process wake-up)."""
RENEW_SECONDS = 1.0
"""How often the keeper renews this process's leases and reads cancel requests."""


class LeaseKeeper:
    """Renews the leases this process holds or waits for; wakes local waiters on a release."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._released = threading.Condition(self._lock)
        self._generation = 0
        self._tracked: dict[tuple[int, str], tuple[AuditBackend, CancelScope]] = {}
        self._thread: threading.Thread | None = None
        self._pid = 0

    def track(self, backend: AuditBackend, holder: str, scope: CancelScope) -> None:
        with self._lock:
            if self._pid != os.getpid():  # a forked child: the parent's leases are not ours
                self._tracked, self._thread, self._pid = {}, None, os.getpid()
            self._tracked[(id(backend), holder)] = (backend, scope)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="runwright-leases", daemon=True)
                self._thread.start()

    def untrack(self, backend: AuditBackend, holder: str) -> None:
        with self._lock:
            self._tracked.pop((id(backend), holder), None)

    def released(self) -> None:
        """A lease of this process was dropped: waiters here ask the store again now."""
        with self._released:
            self._generation += 1
            self._released.notify_all()

    def generation(self) -> int:
        with self._lock:
            return self._generation

    def wait_for_release(self, seen: int, timeout: float) -> None:
        """Sleep up to ``timeout``, or until a release after generation ``seen``."""
        with self._released:
            self._released.wait_for(lambda: self._generation != seen, timeout)

    def renew_now(self) -> None:
        """Renew every tracked lease once; cancel the scopes whose leases were preempted."""
        with self._lock:
            tracked = list(self._tracked.items())
        by_backend: dict[int, tuple[AuditBackend, list[str]]] = {}
        for (key, holder), (backend, _) in tracked:
            by_backend.setdefault(key, (backend, []))[1].append(holder)
        ttl = timedelta(seconds=lease_seconds())
        for key, (backend, holders) in by_backend.items():
            try:
                reasons = backend.renew_leases(holders, ttl)
            except Exception:  # a store hiccup: the next renewal is a second away, well in time
                continue
            for holder, reason in reasons.items():
                entry = dict(tracked).get((key, holder))
                if entry is not None and not entry[1].cancelled:
                    entry[1].cancel(reason)

    def _loop(self) -> None:
        while True:
            time.sleep(min(RENEW_SECONDS, lease_seconds() / 3))
            with self._lock:
                if not self._tracked:
                    self._thread = None
                    return
            self.renew_now()


KEEPER = LeaseKeeper()


class StoreSlots:
    """The :class:`~runwright.engine.slots.SlotTaker` of a run recorded in ``backend``."""

    def __init__(
        self, backend: AuditBackend, workflow: str, run_id: str, runtime: Runtime, conf_path: Path | None
    ) -> None:
        self.backend = backend
        self.workflow = workflow
        self.run_id = run_id
        self.runtime = runtime
        self.conf_path = conf_path
        self._pools: dict[str, int] = {}

    def pool_slots(self, name: str) -> int:
        """The slots of the ``type: Pool`` template ``name`` (read once per run)."""
        if name not in self._pools:
            self._pools[name] = read_pool_slots(name, self.conf_path, self.runtime)
        return self._pools[name]

    def request(self, claim: SlotClaim) -> LeaseRequest:
        capacity = claim.capacity if claim.capacity is not None else self.pool_slots(claim.resource[5:])
        return LeaseRequest(
            resource=claim.resource,
            holder=claim.holder,
            capacity=capacity,
            weight=claim.weight,
            max_waiting=claim.max_waiting,
            preempt=claim.preempt,
            run_id=self.run_id,
            workflow=self.workflow,
        )

    @contextmanager
    def holding(
        self,
        claims: list[SlotClaim],
        scope: CancelScope,
        on_queued: Callable[[str, int | None], None] | None = None,
    ) -> Iterator[SlotVerdict]:
        """Take the claims in resource-name order (one order everywhere: no two claimants can
        each hold what the other waits for); see :class:`~runwright.engine.slots.SlotTaker`."""
        ordered = sorted(claims, key=lambda claim: claim.resource)
        requests = [self.request(claim) for claim in ordered]  # an undeclared pool raises here
        taken: list[LeaseRequest] = []
        for request in requests:
            KEEPER.track(self.backend, request.holder, scope)
        started = time.monotonic()
        try:
            verdict = SlotVerdict(held=True, held_at=time.time())
            for claim, request in zip(ordered, requests, strict=True):
                verdict = self._take(claim, request, scope, on_queued)
                if not verdict.held:
                    break
                taken.append(request)
            verdict.waited_seconds = round(time.monotonic() - started, 3)
            yield verdict
        finally:
            for request in requests:
                KEEPER.untrack(self.backend, request.holder)
                try:
                    self.backend.release_lease(request.resource, request.holder)
                except Exception:  # the lease expires on its own
                    pass
            KEEPER.released()

    def _may_take(self, request: LeaseRequest) -> bool:
        """Whether asking the store again could give the slot, judged from a read: a waiter
        polls with reads and writes only when a slot looks free (or its own lease is gone), so
        a hundred waiters do not queue on the store's write lock ahead of the holders' renewals."""
        leases = self.backend.list_leases(request.resource)
        if not any(lease.holder == request.holder for lease in leases):
            return True  # expired or dropped: ask again to take a place in line
        return lease_decision(leases, request) is LeaseState.HELD

    def _take(
        self,
        claim: SlotClaim,
        request: LeaseRequest,
        scope: CancelScope,
        on_queued: Callable[[str, int | None], None] | None,
    ) -> SlotVerdict:
        ttl = timedelta(seconds=lease_seconds())
        delay = FIRST_POLL_SECONDS
        queued = False
        while True:
            seen = KEEPER.generation()
            if queued and not self._may_take(request):
                state = LeaseState.WAITING  # a read saw no room: no write, no lock taken
            else:
                state = self.backend.acquire_lease(request, ttl)
            if state is LeaseState.HELD:
                return SlotVerdict(held=True, held_at=time.time())
            if state is LeaseState.REFUSED:
                why = "it is full" if claim.max_waiting == 0 else f"{claim.max_waiting} already wait"
                return SlotVerdict(False, "SKIP", f"{claim.label or claim.resource}: {why}")
            if scope.cancelled:
                return SlotVerdict(False, "CANCEL", scope.reason or "cancelled while waiting")
            if not queued:
                queued = True
                if on_queued is not None:
                    mine = [
                        lease
                        for lease in self.backend.list_leases(request.resource)
                        if lease.holder == request.holder
                    ]
                    on_queued(claim.label or claim.resource, mine[0].position if mine else None)
            KEEPER.wait_for_release(seen, delay)
            if scope.cancelled:
                return SlotVerdict(False, "CANCEL", scope.reason or "cancelled while waiting")
            delay = min(delay * 1.6, MAX_POLL_SECONDS)


def read_pool_slots(name: str, conf_path: Path | None, runtime: Runtime) -> int:
    """The ``slots`` of the pool ``name`` in the conf folder, or an error naming the pools there."""
    from runwright.loader import discover, load_template
    from runwright.models.concurrency import Pool
    from runwright.spelling import did_you_mean

    try:
        pool = load_template(name, conf_path, runtime, expected=Pool)
    except RunwrightError as exc:
        pools = sorted(
            found
            for found, source in discover(Path(conf_path or runtime.settings.conf_path)).items()
            if source.raw.get("type") == "Pool"
        )
        listed = ", ".join(pools) or "none"
        raise RunwrightError(
            f"pool '{name}' is not declared{did_you_mean(name, pools)}: write a `type: Pool` template "
            f"named '{name}' with `slots:` in the conf folder (pools: {listed}) [{exc}]"
        ) from None
    return pool.slots
