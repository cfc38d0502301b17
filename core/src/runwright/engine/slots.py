"""What a run, job or stage asks for before it may start: slots of limited resources.

The engine only states its claims (a ``concurrency:`` group, a pool) and waits on a
:class:`SlotTaker`; the taker that keeps them across processes as leases in the audit store is
:class:`runwright.schedule.slots.StoreSlots` (docs/concurrency.md). A run made without a store
(``Workflow.execute()`` in Python) has no taker, and its jobs' groups and pools are not kept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from runwright.errors import RunwrightError

if TYPE_CHECKING:
    from runwright.engine.context import CancelScope, RunState
    from runwright.runtime import Runtime


@dataclass(frozen=True)
class SlotClaim:
    """One resource to hold while something runs."""

    resource: str
    """``group:<name>``, ``workflow:<name>`` (max-active-runs) or ``pool:<name>``."""
    holder: str
    """Unique per claimant: the run id, or ``<run id>/<job>/<strategy>[/<stage>]``."""
    capacity: int | None
    """Slots in the resource; None for a pool (its ``type: Pool`` template says)."""
    weight: int = 1
    max_waiting: int | None = None
    """Others that may wait besides this one (0: skip when full; None: no bound)."""
    preempt: bool = False
    """``cancel-in-progress``: cancel the holders this one needs the slots of."""
    label: str = ""
    """How messages name it: ``concurrency group 'sales-eu' (limit 1)``."""


@dataclass
class SlotVerdict:
    """What waiting for the slots ended in: ``held`` (run now), else SKIP or CANCEL and why."""

    held: bool
    status: str = ""
    reason: str = ""
    waited_seconds: float = 0.0
    held_at: float = 0.0
    """Wall-clock time (``time.time()``) when the last slot was taken."""


class SlotTaker(Protocol):
    """Holds claims for the length of a ``with`` block, waiting (in order) until they fit."""

    def holding(
        self,
        claims: list[SlotClaim],
        scope: CancelScope,
        on_queued: Callable[[str, int | None], None] | None = None,
    ) -> AbstractContextManager[SlotVerdict]:
        """Wait until every claim is held (``on_queued(what, place in the queue)`` once per
        claim it must wait for), yield
        the verdict, release everything on leaving. A cancelled ``scope`` stops the wait
        (verdict CANCEL); a full queue or ``when-full: skip`` gives SKIP. While held, a
        preempting claimant (``cancel-in-progress``) cancels ``scope``."""
        ...


def run_claims(workflow: Any, run_id: str, variables: dict[str, Any]) -> list[SlotClaim]:
    """A run's own claims: its ``concurrency:`` group (rendered with ``variables``: params and
    release) and its ``max-active-runs``."""
    claims: list[SlotClaim] = []
    if workflow.max_active_runs is not None:
        claims.append(
            SlotClaim(
                resource=f"workflow:{workflow.name}",
                holder=run_id,
                capacity=workflow.max_active_runs,
                label=f"max-active-runs of workflow '{workflow.name}' ({workflow.max_active_runs})",
            )
        )
    if workflow.concurrency is not None:
        claims.append(
            group_claim(workflow.concurrency, run_id, variables, workflow.runtime, "concurrency.group")
        )
    return claims


def group_claim(
    concurrency: Any, holder: str, variables: dict[str, Any], runtime: Runtime, where: str
) -> SlotClaim:
    """The claim of a ``concurrency:`` mapping; its group expression rendered with ``variables``."""
    group = runtime.expressions.render(concurrency.group, variables)
    if not isinstance(group, str | int) or not str(group).strip():
        raise RunwrightError(f"{where}: the group must render to a non-empty name, got {group!r}")
    return SlotClaim(
        resource=f"group:{group}",
        holder=holder,
        capacity=concurrency.limit,
        max_waiting=concurrency.max_waiting(),
        preempt=concurrency.cancel_in_progress,
        label=f"concurrency group '{group}' (limit {concurrency.limit})",
    )


def pool_claim(pool: str, weight: int, holder: str) -> SlotClaim:
    return SlotClaim(
        resource=f"pool:{pool}", holder=holder, capacity=None, weight=weight, label=f"pool '{pool}'"
    )


def job_claims(
    job: Any, holder: str, variables: dict[str, Any], runtime: Runtime, job_id: str
) -> list[SlotClaim]:
    """A job's (or one matrix strategy's) claims: its ``concurrency:`` group and its pool."""
    claims: list[SlotClaim] = []
    if job.concurrency is not None:
        claims.append(
            group_claim(job.concurrency, holder, variables, runtime, f"jobs.{job_id}.concurrency.group")
        )
    if job.pool is not None:
        claims.append(pool_claim(job.pool, job.pool_slots, holder))
    return claims


@contextmanager
def held_slots(
    state: RunState, claims: list[SlotClaim], scope: CancelScope, where: dict[str, Any]
) -> Iterator[tuple[SlotVerdict, CancelScope]]:
    """Hold ``claims`` around a job or stage; yields the verdict and the scope to run in (a
    preempting claimant cancels it). Without claims, or without a store, runs at once."""
    if not claims or state.slots is None:
        yield SlotVerdict(held=True), scope
        return
    inner = scope.child()

    def queued(what: str, position: int | None) -> None:
        state.trace.event("queued", f"waiting for {what}", position=position, **where)

    with state.slots.holding(claims, inner, on_queued=queued) as verdict:
        if verdict.held and verdict.waited_seconds:
            state.trace.event("slots-held", f"waited {verdict.waited_seconds} s", **where)
        yield verdict, inner
