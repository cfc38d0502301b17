"""Paging through the audit store with an opaque cursor (newest first)."""

from __future__ import annotations

import base64
import json
from datetime import datetime

from runwright.audit import AuditBackend, ListPosition, ReleaseRecord, ReleaseStatus

from runwright_api.service import BadParams


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


def page_of_records(
    audit: AuditBackend,
    workflow: str | None,
    status: ReleaseStatus | None,
    since: datetime | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[ReleaseRecord], str | None]:
    """One page, newest first, and the cursor of the next page (None on the last).

    The store reads only the page (plus one record, to know whether another page follows),
    resuming strictly after the cursor's record: paging a million runs costs what one page does.
    """
    after = decode_cursor(cursor) if cursor else None
    try:
        found = audit.list(
            workflow=workflow or None, status=status, since=since, limit=limit + 1, after=after
        )
    except ValueError as exc:  # a name the store cannot hold, e.g. with a path separator
        raise BadParams(f"workflow '{workflow}': {exc}") from None
    page = found[:limit]
    next_cursor = encode_cursor(page[-1]) if len(found) > limit else None
    return page, next_cursor
