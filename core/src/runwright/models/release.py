"""The ``release`` context every run carries: which logical date it is for, and why it runs.

One description for the runtime (what ``${{ release.* }}`` holds) and the static checker
(``RELEASE_KEYS``). Dates in params derive from it, never from the wall clock of whichever
process happens to run a tick.

- ``logical_date``: the cron tick a run is for (aware, in the cron's zone); for a manual run
  the wall clock when it started, or the date given (``--logical-date``, the API's
  ``logical_date``).
- ``data_interval_start`` / ``data_interval_end``: the previous tick and this one of the
  workflow's ``on:`` cron entries (the latest previous tick across entries). A workflow without
  cron entries has an empty interval: both are the logical date.
- ``type``: ``manual``, ``schedule``, ``backfill``, ``rerun``, ``trigger`` (a ``trigger:``
  stage's child: its parent's dates) or ``event`` (``on: release``: the upstream's dates).
- ``attempt``: 1 for the first run of a logical date, +1 for each forced or retried one.
- ``run_date``: the wall clock when the release was made.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runwright.models.events import CronEvent

RELEASE_KEYS = (
    "logical_date",
    "data_interval_start",
    "data_interval_end",
    "type",
    "attempt",
    "run_date",
)
RELEASE_TYPES = ("manual", "schedule", "backfill", "rerun", "trigger", "event")
RECORD_TYPES = {"scheduled": "schedule"}
"""A record's stored type -> the release context's ``type`` where the two names differ."""


def previous_tick(events: Iterable[CronEvent], logical_date: datetime) -> datetime | None:
    """The latest tick of ``events`` strictly before ``logical_date`` (None without events)."""
    events = list(events)
    if not events:  # a workflow without a cron: no croniter import on a plain run's path
        return None
    from croniter import croniter  # only when a run is for a scheduled workflow

    found: datetime | None = None
    for event in events:
        local = logical_date.astimezone(event.zone)
        tick: datetime = croniter(event.cronjob, local).get_prev(datetime)
        if tick >= local:  # croniter answers the start itself when it matches to the second
            tick = croniter(event.cronjob, tick).get_prev(datetime)
        if found is None or tick > found:
            found = tick
    return found


def release_context(
    logical_date: datetime,
    release_type: str,
    *,
    events: Iterable[CronEvent] = (),
    attempt: int = 1,
    run_date: datetime | None = None,
    upstream: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``release`` mapping of one run (see the module doc for each key)."""
    kind = RECORD_TYPES.get(str(release_type), str(release_type))
    if kind not in RELEASE_TYPES:
        raise ValueError(f"release type '{release_type}' is not one of {', '.join(RELEASE_TYPES)}")
    start = previous_tick(events, logical_date) or logical_date
    context: dict[str, Any] = {
        "logical_date": logical_date,
        "data_interval_start": start.astimezone(logical_date.tzinfo),
        "data_interval_end": logical_date,
        "type": kind,
        "attempt": attempt,
        "run_date": run_date or datetime.now(UTC),
    }
    if upstream is not None:
        context["upstream"] = dict(upstream)
    return context


def child_release(parent: Mapping[str, Any], release_type: str) -> dict[str, Any]:
    """A run started by another run (``trigger:``): the parent's dates, its own type, attempt 1."""
    return {**parent, "type": release_type, "attempt": 1}
