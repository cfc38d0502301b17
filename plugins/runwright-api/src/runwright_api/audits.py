"""Paging through the audit store with an opaque cursor (newest first), filtered by a
:class:`~runwright.audit.RunQuery` the store answers (SQL stores in their ``WHERE`` clauses)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from datetime import UTC, datetime

from runwright.audit import AuditBackend, ListPosition, ReleaseRecord, ReleaseStatus, RunQuery
from runwright.errors import RunwrightError
from runwright.models.labels import label_filter

from runwright_api.service import BadParams

MAX_FILTER_VALUES = 10


def encode_cursor(record: ReleaseRecord) -> str:
    position = record.list_position
    raw = json.dumps(
        [position.started.isoformat(), position.release.isoformat(), position.attempt, position.workflow]
    ).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> ListPosition:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        started, release, attempt, workflow = json.loads(base64.urlsafe_b64decode(padded.encode()))
        position = ListPosition(
            datetime.fromisoformat(started), datetime.fromisoformat(release), int(attempt), str(workflow)
        )
    except Exception:
        raise BadParams(f"cursor '{cursor[:60]}' is not one this server gave out") from None
    if position.started.tzinfo is None or position.release.tzinfo is None:
        raise BadParams(f"cursor '{cursor[:60]}' is not one this server gave out")
    return position


def aware(moment: datetime | None) -> datetime | None:
    """A datetime from a query string; without an offset it is UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def run_query(
    workflow: str | None = None,
    status: ReleaseStatus | None = None,
    started_from: datetime | None = None,
    started_to: datetime | None = None,
    tags: Iterable[str] = (),
    labels: Iterable[str] = (),
    text: str | None = None,
) -> RunQuery:
    """The filters of the runs list (API and page alike); ``labels`` as ``KEY=VALUE``. A bad
    filter is a 422 naming it, never an empty list that looks like "no runs"."""
    tags, labels = [t for t in tags if t], [pair for pair in labels if pair]
    if len(tags) > MAX_FILTER_VALUES or len(labels) > MAX_FILTER_VALUES:
        raise BadParams(f"at most {MAX_FILTER_VALUES} tags and {MAX_FILTER_VALUES} labels to filter on")
    try:
        pairs = [label_filter(pair) for pair in labels]
    except RunwrightError as exc:
        raise BadParams(str(exc)) from None
    started_from, started_to = aware(started_from), aware(started_to)
    if started_from is not None and started_to is not None and started_to <= started_from:
        raise BadParams(
            f"the date range is empty: 'to' ({started_to.isoformat()}) is not after 'from' "
            f"({started_from.isoformat()})"
        )
    try:
        return RunQuery(
            workflow=workflow or None,
            status=status,
            started_from=started_from,
            started_to=started_to,
            tags=tuple(tags),
            labels=tuple(pairs),
            text=(text or "").strip() or None,
        )
    except (ValueError, RunwrightError) as exc:
        raise BadParams(f"runs filter: {exc}") from None


def page_of_records(
    audit: AuditBackend, query: RunQuery, limit: int, cursor: str | None
) -> tuple[list[ReleaseRecord], str | None]:
    """One page, newest first, and the cursor of the next page (None on the last).

    The store reads only the page (plus one record, to know whether another page follows),
    resuming strictly after the cursor's record: paging a million runs costs what one page
    does, and runs started meanwhile never shift the pages still to read.
    """
    after = decode_cursor(cursor) if cursor else None
    try:
        found = audit.find(query, limit=limit + 1, after=after)
    except ValueError as exc:  # a name the store cannot hold, e.g. with a path separator
        raise BadParams(f"workflow '{query.workflow}': {exc}") from None
    page = found[:limit]
    next_cursor = encode_cursor(page[-1]) if len(found) > limit else None
    return page, next_cursor
