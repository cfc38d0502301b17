"""The ``type: Schedule`` template: which workflows to release on which ticks, with which params.

```yaml
schedule-run-local-wf:
  type: Schedule
  workflows:
    - name: run-py-local
      params:
        source-extract: "USD-THB"
        asat-dt: "${{ release.logical_date }}"
      on:                      # optional: else the workflow's own `on:`
        - cronjob: "0 * * * *"
```
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, PrivateAttr, field_validator

from runwright.models.base import TemplateModel, TemplateName
from runwright.models.events import CronEvent, normalise_on

if TYPE_CHECKING:
    from runwright.runtime import Runtime


class ScheduledWorkflow(TemplateModel):
    name: str = Field(description="The workflow template's name.")
    params: dict[str, Any] = Field(default_factory=dict, description="Params; may use ${{ release.* }}.")
    on: list[CronEvent] | None = Field(None, description="Overrides the workflow's own `on:`.")

    @field_validator("on", mode="before")
    @classmethod
    def _on_forms(cls, value: Any) -> Any:
        return None if value is None else normalise_on(value)


class Schedule(TemplateModel):
    """Releases of workflows on cron ticks; run with :meth:`pending`."""

    name: TemplateName
    type: Literal["Schedule"] = Field("Schedule", description="Marks the template as a schedule.")
    desc: str | None = Field(None, description="Free text for readers; never run.")
    workflows: list[ScheduledWorkflow] = Field(
        min_length=1, description="The workflows it releases, each with its params and cron."
    )

    _runtime: Runtime | None = PrivateAttr(default=None)
    _source: Any = PrivateAttr(default=None)
    _conf_path: Any = PrivateAttr(default=None)
    _definition_hash: str = PrivateAttr(default="")

    @classmethod
    def from_conf(cls, name: str, path: Any = None, *, runtime: Runtime | None = None) -> Schedule:
        from runwright.loader import load_template
        from runwright.runtime import Runtime

        return load_template(name, path, runtime or Runtime.default(), expected=cls)

    @classmethod
    def from_loader(cls, name: str, *, runtime: Runtime | None = None) -> Schedule:
        return cls.from_conf(name, runtime=runtime)

    def pending(
        self,
        stop: datetime | None = None,
        *,
        audit: Any = None,
        clock: Any = None,
    ) -> list[Any]:
        """Release this schedule's workflows at each tick until ``stop``.

        ``stop`` defaults to now + ``RUNWRIGHT_STOP_BOUNDARY_DELTA``. Returns the releases made.
        A workflow never released before starts at the first tick after now (this minute's
        tick, already passed, is not run); one released before first runs the latest tick it
        missed at once, even this minute's, or every missed tick within its ``catchup:``.
        """
        from runwright.schedule.scheduler import Scheduler, stop_boundary

        scheduler = Scheduler(
            self._conf_path, audit=audit, clock=clock, runtime=self._runtime, only=[self.name]
        )
        until = stop or stop_boundary(scheduler.clock.now())
        return scheduler.run(until=until)
