"""Cron ticks in an entry's timezone (croniter does the cron maths, DST included)."""

from __future__ import annotations

import calendar
import functools
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter

from runwright.errors import TooManyTicks
from runwright.models.events import CronEvent

MAX_TICKS = 100_000


def _bounded(event: CronEvent, tick: datetime) -> bool:
    return (event.start is None or tick >= event.start) and (event.end is None or tick <= event.end)


def next_tick(event: CronEvent, after: datetime) -> datetime | None:
    """The first tick strictly after ``after`` (None past ``end``).

    Cached: thousands of workflows on the same cron line cost one computation per tick.
    """
    # keyed by the UTC instant: two wall times of one zone compare equal across a DST fold
    return _next_tick(event.cronjob, event.timezone, event.start, event.end, after.astimezone(UTC))


@functools.lru_cache(maxsize=65_536)
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
    """Every tick ``t`` with ``after < t <= until``, oldest first.

    More than :data:`MAX_TICKS` is a :class:`TooManyTicks` error, found by
    :func:`minimum_tick_count` before croniter computes the ticks one by one (about 0.1 ms
    each: 100,000 of them took 12 s).
    """
    if minimum_tick_count(event, after, until, enough=MAX_TICKS + 1) > MAX_TICKS:
        raise _too_many(event, after, until)
    found: list[datetime] = []
    tick = next_tick(event, after)
    while tick is not None and tick <= until:
        if _bounded(event, tick):
            found.append(tick)
        if len(found) > MAX_TICKS:  # a cron line the quick count leaves to croniter ('5#3')
            raise _too_many(event, after, until)
        tick = next_tick(event, tick)
    return found


def _too_many(event: CronEvent, after: datetime, until: datetime) -> TooManyTicks:
    return TooManyTicks(
        f"more than {MAX_TICKS:,} ticks of '{event.cronjob}' ({event.timezone}) between "
        f"{after.isoformat()} and {until.isoformat()}",
        event.cronjob,
    )


def minimum_tick_count(
    event: CronEvent, after: datetime, until: datetime, enough: int = MAX_TICKS + 1
) -> int:
    """At least how many ticks fall in ``(after, until]`` (within the entry's start/end), counted
    a day at a time from croniter's expanded fields, without computing the ticks: stops once
    ``enough`` is reached.

    Only whole days strictly inside the range are counted, and only days without a change of
    UTC offset (a DST night has an hour less or more), each as minutes x hours; so the count
    never exceeds the real one, and in UTC misses only the first and last day. A line with a
    field it does not read (``5#3``) counts 0: croniter then decides alone.
    """
    try:
        fields, nth_weekday = croniter.expand(event.cronjob)
    except Exception:  # croniter's own errors: the model validated the line already
        return 0
    if nth_weekday or len(fields) != 5:
        return 0
    minutes, hours, doms, months, dows = fields
    if any(not isinstance(v, int) and v not in ("*", "l") for field in fields for v in field):
        return 0
    per_day = (60 if minutes == ["*"] else len(minutes)) * (24 if hours == ["*"] else len(hours))
    if "l" in minutes or "l" in hours or "l" in months or "l" in dows or per_day == 0:
        return 0
    zone = event.zone
    low = max(after, event.start) if event.start is not None else after
    high = min(until, event.end) if event.end is not None else until
    first = low.astimezone(zone).date() + timedelta(days=1)
    last = high.astimezone(zone).date() - timedelta(days=1)
    if first > last:
        return 0
    any_dom, any_dow = doms == ["*"], dows == ["*"]
    day_numbers = {v for v in doms if isinstance(v, int)}
    weekdays = set(dows)
    count = 0
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        if months == ["*"] or month in months:
            length = calendar.monthrange(year, month)[1]
            if any_dow and not any_dom:  # only the listed days of the month
                candidates = sorted(
                    d for d in day_numbers | ({length} if "l" in doms else set()) if d <= length
                )
            else:
                candidates = list(range(1, length + 1))
            for number in candidates:
                day = date(year, month, number)
                if day < first or day > last:
                    continue
                if not (any_dow or any_dom):  # both restricted: either matches (cron's rule)
                    matches = (
                        number in day_numbers
                        or ("l" in doms and number == length)
                        or ((day.weekday() + 1) % 7 in weekdays)
                    )
                elif not any_dow:
                    matches = (day.weekday() + 1) % 7 in weekdays
                else:
                    matches = True  # listed days (or every day)
                if matches and _steady_offset(day, zone):
                    count += per_day
                    if count >= enough:
                        return count
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return count


def _steady_offset(day: date, zone: ZoneInfo) -> bool:
    """Whether ``day`` has the same UTC offset at its start and at the next day's start."""
    if zone.key == "UTC":
        return True
    start = datetime(day.year, day.month, day.day, tzinfo=zone)
    following = day + timedelta(days=1)
    return (
        start.utcoffset() == datetime(following.year, following.month, following.day, tzinfo=zone).utcoffset()
    )


def latest_tick(event: CronEvent, at: datetime) -> datetime | None:
    """The most recent tick at or before ``at``."""
    local = at.astimezone(event.zone)
    if croniter.match(event.cronjob, local) and local.second == 0 and local.microsecond == 0:
        tick = local
    else:
        tick = croniter(event.cronjob, local).get_prev(datetime)
    return tick if _bounded(event, tick) else None
