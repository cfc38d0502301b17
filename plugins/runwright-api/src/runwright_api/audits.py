"""Paging through the audit store with an opaque cursor (newest first)."""

from __future__ import annotations

import base64
import json
from datetime import datetime

from runwright.audit import AuditBackend, ReleaseRecord, ReleaseStatus

from runwright_api.service import BadParams


def encode_cursor(record: ReleaseRecord) -> str:
    raw = json.dumps([record.started.isoformat(), record.run_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        started, run_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        return datetime.fromisoformat(started), str(run_id)
    except Exception:
        raise BadParams(f"cursor '{cursor[:60]}' is not one this server gave out") from None


def order_key(record: ReleaseRecord) -> tuple[datetime, str]:
    return (record.started, record.run_id)


def page_of_records(
    audit: AuditBackend,
    workflow: str | None,
    status: ReleaseStatus | None,
    since: datetime | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[ReleaseRecord], str | None]:
    """One page, newest first, and the cursor of the next page (None on the last)."""
    try:
        found = audit.list(workflow=workflow or None, status=status, since=since)
    except ValueError as exc:  # a name the store cannot hold, e.g. with a path separator
        raise BadParams(f"workflow '{workflow}': {exc}") from None
    records = sorted(found, key=order_key, reverse=True)
    if cursor:
        after = decode_cursor(cursor)
        if after[0].tzinfo is None:
            raise BadParams("cursor without a timezone")
        records = [r for r in records if order_key(r) < after]
    page = records[:limit]
    next_cursor = encode_cursor(page[-1]) if len(records) > limit else None
    return page, next_cursor
