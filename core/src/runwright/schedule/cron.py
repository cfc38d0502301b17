"""Cron ticks in an entry's timezone (croniter does the cron maths, DST included)."""

from __future__ import annotations

from datetime import UTC, datetime

from croniter import croniter

from runwright.models.events import CronEvent

MAX_TICKS = 100_000


def _bounded(event: CronEvent, tick: datetime) -> bool:
    return (event.start is None or tick >= event.start) and (event.end is None or tick <= event.end)


def next_tick(event: CronEvent, after: datetime) -> datetime | None:
    """The first tick strictly after ``after`` (None past ``end``).

    Cached, the latest answer per cron entry: thousands of workflows on the same cron line
    cost one computation per tick, and the cache holds one tick per distinct entry (a cache
    keyed by every ``after`` kept one entry per tick that ever passed, up to 26 MB).
    """
    key = (event.cronjob, event.timezone, event.start, event.end)
    instant = after.astimezone(UTC)  # two wall times of one zone compare equal across a DST fold
    cached = _LATEST_TICKS.get(key)
    if cached is not None and cached[0] == instant:
        return cached[1]
    tick = _next_tick(event.cronjob, event.timezone, event.start, event.end, instant)
    if len(_LATEST_TICKS) >= MAX_CACHED_ENTRIES:
        _LATEST_TICKS.clear()
    _LATEST_TICKS[key] = (instant, tick)
    return tick


MAX_CACHED_ENTRIES = 65_536
"""Distinct cron entries whose latest tick is cached (more are computed again)."""
_LATEST_TICKS: dict[tuple[str, str, datetime | None, datetime | None], tuple[datetime, datetime | None]] = {}


def _next_tick(
    cronjob: str, timezone: str, start_at: datetime | None, end_at: datetime | None, after: datetime
) -> datetime | None:
    event = CronEvent(cronjob=cronjob, timezone=timezone, start=start_at, end=end_at)
    start = after.astimezone(event.zone)
    if event.start is not None and event.start > start:
        start = event.start.astimezone(event.zone)
        if croniter.match(event.cronjob, start) and start > after:
            return start
    tick: datetime = croniter(event.cronjob, start).get_next(datetime)
    if event.end is not None and tick > event.end:
        return None
    return tick


def ticks_between(event: CronEvent, after: datetime, until: datetime) -> list[datetime]:
    """Every tick ``t`` with ``after < t <= until``, oldest first."""
    found: list[datetime] = []
    tick = next_tick(event, after)
    while tick is not None and tick <= until:
        if _bounded(event, tick):
            found.append(tick)
        if len(found) >= MAX_TICKS:
            raise ValueError(f"more than {MAX_TICKS} ticks of '{event.cronjob}' in the range")
        tick = next_tick(event, tick)
    return found


def latest_tick(event: CronEvent, at: datetime) -> datetime | None:
    """The most recent tick at or before ``at``."""
    local = at.astimezone(event.zone)
    if croniter.match(event.cronjob, local) and local.second == 0 and local.microsecond == 0:
        tick = local
    else:
        tick = croniter(event.cronjob, local).get_prev(datetime)
    return tick if _bounded(event, tick) else None
