"""Statuses and the Result of a run: plain JSON-able data, masked when shown or stored."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from runwright.masking import mask


class Status(StrEnum):
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    SKIP = "SKIP"
    CANCEL = "CANCEL"
    RUNNING = "RUNNING"


def aggregate(statuses: list[Status]) -> Status:
    """FAILED beats CANCEL beats SUCCESS; all SKIP (or nothing) is SKIP."""
    if Status.FAILED in statuses:
        return Status.FAILED
    if Status.CANCEL in statuses:
        return Status.CANCEL
    if statuses and all(s is Status.SKIP for s in statuses):
        return Status.SKIP
    return Status.SUCCESS


def error_record(exc: BaseException, **where: Any) -> dict[str, Any]:
    """``{"name", "message", ...where}`` for a failure (name as used by ``retry: on:``)."""
    name = getattr(exc, "error_name", None) or type(exc).__name__
    record = {k: v for k, v in where.items() if v is not None}
    record.update(name=name, message=str(mask(str(exc))))
    return record


def to_jsonable(value: Any) -> Any:
    """Dates as ISO strings, decimals as strings, sets as lists: what JSON and audit store."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if hasattr(value, "model_dump"):
        return to_jsonable(value.model_dump(mode="json"))
    return str(value)


@dataclass
class Result:
    """What a run returns: ``status``, ``run_id``, ``context`` and ``errors``.

    ``context`` holds real values (a later stage may need a secret); :meth:`to_dict` and
    ``repr`` mask secrets, and that is what the CLI prints and audit stores.
    """

    status: Status
    run_id: str
    context: dict[str, Any]
    errors: list[dict[str, Any]] = field(default_factory=list)
    parent_run_id: str | None = None
    workflow: str = ""
    started: datetime | None = None
    ended: datetime | None = None
    log_file: str | None = None
    traceparent: str | None = None
    """The run's W3C trace context when a tracer plugin traced it (``on: release`` followers
    continue it)."""
    secrets: Any = field(default=None, repr=False, compare=False)
    """The run's :class:`~runwright.masking.RunSecrets`: its secrets stay masked while this
    Result is kept (its context holds them in clear)."""

    def to_dict(self) -> dict[str, Any]:
        """The masked, JSON-able form: ``{"run_id", "status", "context", "errors", ...}``."""
        return mask(
            to_jsonable(
                {
                    "run_id": self.run_id,
                    "parent_run_id": self.parent_run_id,
                    "workflow": self.workflow,
                    "status": self.status.value,
                    "started": self.started,
                    "ended": self.ended,
                    "context": self.context,
                    "errors": self.errors,
                }
            )
        )

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def __repr__(self) -> str:
        return f"Result(status={self.status.value}, run_id={self.run_id!r}, errors={mask(self.errors)!r})"
