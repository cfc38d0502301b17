"""Concurrency keys: ``concurrency:`` groups, ``max-active-runs`` and ``type: Pool`` templates.

```yaml
load-sales:
  type: Workflow
  max-active-runs: 3                 # runs of this workflow at once (Airflow's meaning)
  concurrency:                       # GitHub Actions' key; `concurrency: NAME` is the short form
    group: sales-${{ params.region }}
    limit: 1                         # runs at once in the group (default 1)
    cancel-in-progress: false        # true: a new run cancels the running one(s)
    when-full: queue                 # queue (FIFO) or skip (recorded SKIP with the reason)
    queue: 10                        # at most 10 waiting; a run beyond is recorded SKIP
  jobs:
    load:
      pool: warehouse                # a slot of the `warehouse` pool while the job runs
      pool-slots: 2                  # ... weighing 2 of its slots
      stages: [...]

warehouse:
  type: Pool
  slots: 4
```

How slots are kept across processes (leases in the audit store) is in docs/concurrency.md.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from runwright.models.base import TemplateModel, TemplateName

MAX_LIMIT = 10_000
"""Upper bound of a limit, a queue or a pool's slots: a typo (``limit: 10000000``) is an error."""


class Concurrency(TemplateModel):
    """At most ``limit`` runs (or jobs) of one group at once, whichever process starts them."""

    group: str = Field(
        min_length=1,
        description="The group's name; an expression may use params, release (and matrix on a job).",
    )
    limit: int = Field(1, ge=1, le=MAX_LIMIT, description="Members of the group running at once.")
    cancel_in_progress: bool = Field(
        False,
        alias="cancel-in-progress",
        description=(
            "A new member cancels the running ones it needs the slots of, and those queued before it."
        ),
    )
    when_full: Literal["queue", "skip"] = Field(
        "queue",
        alias="when-full",
        description="When the group is full: queue (first in, first out) or skip (recorded SKIP).",
    )
    queue: int | None = Field(
        None, ge=0, le=MAX_LIMIT, description="At most this many waiting (default: no bound); more are SKIP."
    )

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, data: Any) -> Any:
        """``concurrency: NAME`` is ``concurrency: {group: NAME}``, as in GitHub Actions."""
        return {"group": data} if isinstance(data, str) else data

    @model_validator(mode="after")
    def _one_policy(self) -> Concurrency:
        if self.cancel_in_progress and self.when_full == "skip":
            raise ValueError(
                "cancel-in-progress: true and when-full: skip contradict each other "
                "(a new run either cancels the running one or is skipped); keep one"
            )
        if self.queue is not None and self.when_full == "skip":
            raise ValueError("queue: bounds the waiting runs of when-full: queue; with skip nothing waits")
        return self

    def max_waiting(self) -> int | None:
        """How many may wait besides the one asking: 0 when full means skip."""
        return 0 if self.when_full == "skip" else self.queue


class Pool(TemplateModel):
    """Named slots shared by jobs and stages (``pool: NAME``) of every workflow and process."""

    name: TemplateName
    type: Literal["Pool"] = Field("Pool", description="Marks the template as a pool.")
    desc: str | None = Field(None, description="Free text for readers; never run.")
    slots: int = Field(
        ge=1, le=MAX_LIMIT, description="How many slots; a job or stage takes pool-slots of them."
    )
