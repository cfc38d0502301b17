"""The Workflow template: params, ``on:`` releases and a DAG of jobs."""

from __future__ import annotations

import graphlib
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, PrivateAttr, field_validator, model_validator

from runwright.errors import ParamError
from runwright.models.base import TemplateModel
from runwright.models.events import CronEvent, normalise_on
from runwright.models.job import Job
from runwright.models.params import ParamSpec

if TYPE_CHECKING:
    from runwright.engine.result import Result
    from runwright.engine.runner import RunHandle
    from runwright.runtime import Runtime
    from runwright.schedule.release import ReleaseOutcome


class Workflow(TemplateModel):
    """One ``type: Workflow`` template. Load it with :meth:`from_conf` / :meth:`from_loader`."""

    name: str = Field(pattern=r"^[^${}]+$")
    type: Literal["Workflow"] = "Workflow"
    desc: str | None = None
    params: dict[str, ParamSpec] = Field(default_factory=dict)
    on: list[CronEvent] = Field(default_factory=list)
    jobs: dict[str, Job] = Field(min_length=1)
    max_parallel: int | None = Field(None, alias="max-parallel", ge=1)
    timeout_minutes: float | None = Field(None, alias="timeout-minutes", gt=0)
    tags: list[str] = Field(default_factory=list)

    _runtime: Runtime | None = PrivateAttr(default=None)
    _source: Path | None = PrivateAttr(default=None)
    _conf_path: Path | None = PrivateAttr(default=None)
    _definition_hash: str = PrivateAttr(default="")
    _order: tuple[str, ...] = PrivateAttr(default=())

    @field_validator("on", mode="before")
    @classmethod
    def _on_forms(cls, value: Any) -> Any:
        return normalise_on(value)

    @model_validator(mode="after")
    def _dag(self) -> Workflow:
        for job_id, job in self.jobs.items():
            unknown = [need for need in job.needs if need not in self.jobs]
            if unknown:
                known = ", ".join(self.jobs)
                raise ValueError(f"job '{job_id}' needs unknown job(s) {', '.join(unknown)} (jobs: {known})")
        sorter = graphlib.TopologicalSorter({jid: job.needs for jid, job in self.jobs.items()})
        try:
            self._order = tuple(sorter.static_order())
        except graphlib.CycleError as exc:
            cycle = " -> ".join(exc.args[1])
            raise ValueError(f"jobs form a cycle: {cycle}") from None
        return self

    # -- loading ---------------------------------------------------------------------------

    @classmethod
    def from_conf(
        cls, name: str, path: str | Path | None = None, *, runtime: Runtime | None = None
    ) -> Workflow:
        """Load the workflow ``name`` from the conf path (``path``, else ``RUNWRIGHT_CONF``)."""
        from runwright.loader import load_template
        from runwright.runtime import Runtime

        rt = runtime or Runtime.default()
        workflow = load_template(name, path, rt, expected=cls)
        return workflow

    @classmethod
    def from_loader(cls, name: str, *, runtime: Runtime | None = None) -> Workflow:
        """The seed's spelling of :meth:`from_conf` with the configured conf path."""
        return cls.from_conf(name, runtime=runtime)

    @property
    def runtime(self) -> Runtime:
        from runwright.runtime import Runtime

        return self._runtime or Runtime.default()

    @property
    def source(self) -> Path | None:
        return self._source

    @property
    def conf_path(self) -> Path | None:
        """The conf path this workflow was loaded from (``trigger:`` looks there too)."""
        return self._conf_path

    @property
    def definition_hash(self) -> str:
        return self._definition_hash

    @property
    def job_order(self) -> tuple[str, ...]:
        return self._order

    # -- params ----------------------------------------------------------------------------

    def parameterize(self, params: Mapping[str, Any] | None) -> dict[str, Any]:
        """Validate and convert run-time params; apply defaults; name the param on error.

        Params passed but not declared are kept as given (the seed passes such values).
        """
        given = dict(params or {})
        typed: dict[str, Any] = {}
        for key, spec in self.params.items():
            try:
                if key in given and given[key] is not None:
                    typed[key] = spec.convert(given.pop(key))
                elif spec.is_required():
                    given.pop(key, None)
                    expected = f"a {spec.type} value"
                    raise ParamError(self.name, key, f"is required ({expected}) but was not given")
                else:
                    given.pop(key, None)
                    typed[key] = spec.default_value()
            except ValueError as exc:
                raise ParamError(self.name, key, str(exc)) from None
        typed.update(given)
        return typed

    # -- running ---------------------------------------------------------------------------

    def execute(
        self,
        params: Mapping[str, Any] | None = None,
        *,
        run_id: str | None = None,
        parent_run_id: str | None = None,
        **options: Any,
    ) -> Result:
        """Run every job and return the :class:`Result` (never raises for a failed stage)."""
        from runwright.engine.runner import run_workflow

        return run_workflow(self, params, run_id=run_id, parent_run_id=parent_run_id, **options)

    def release(
        self,
        logical_date: datetime,
        params: Mapping[str, Any] | None = None,
        *,
        mode: str = "normal",
        release_type: str = "manual",
        audit: Any = None,
        **options: Any,
    ) -> ReleaseOutcome:
        """One run for one cron tick, claimed and recorded in the audit store.

        ``mode``: ``normal`` (skip a tick already released), ``retry`` (new attempt unless one
        is RUNNING or SUCCESS), ``force`` (new attempt unless one is RUNNING) or
        ``dryrun`` (check everything, run nothing). Params may use ``${{ release.* }}``.
        """
        from runwright.schedule.release import release

        return release(
            self,
            logical_date,
            params,
            mode=mode,
            release_type=release_type,
            audit=audit,
            **options,
        )

    def start(self, params: Mapping[str, Any] | None = None, **options: Any) -> RunHandle:
        """Run in the background; the handle can ``cancel()`` it or wait for ``result()``."""
        from runwright.engine.runner import start_workflow

        return start_workflow(self, params, **options)
