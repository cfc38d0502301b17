"""The Workflow template: params, ``on:`` releases and a DAG of jobs."""

from __future__ import annotations

import graphlib
import warnings
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import Field, PrivateAttr, ValidationInfo, field_validator, model_validator

from runwright.errors import ParamError, RunwrightError, UndeclaredParamWarning
from runwright.models.base import MAX_MINUTES, TemplateModel, TemplateName
from runwright.models.concurrency import MAX_LIMIT, Concurrency
from runwright.models.events import CronEvent, normalise_on, split_release_triggers
from runwright.models.job import Job
from runwright.models.notify import NotifyTarget
from runwright.models.params import ParamSpec
from runwright.models.runs_on import RunsOn, check_installed
from runwright.spelling import closest, did_you_mean

if TYPE_CHECKING:
    from runwright.engine.result import Result
    from runwright.engine.runner import RunHandle
    from runwright.runtime import Runtime
    from runwright.schedule.release import ReleaseOutcome


def _on_schema(schema: dict[str, Any]) -> None:
    """``on:`` is a list of cron entries or ``{schedule: [...], release: [names]}``."""
    entries = {key: schema.pop(key) for key in ("items", "type") if key in schema}
    scheduled = {**entries, "description": "Cron entries, as in the list form."}
    release = {
        "type": "array",
        "items": {"type": "string"},
        "description": "Run after these workflows' releases.",
    }
    mapping = {"properties": {"schedule": scheduled, "release": release}, "additionalProperties": False}
    schema["anyOf"] = [entries, {"type": "object", **mapping}]


class Workflow(TemplateModel):
    """One ``type: Workflow`` template. Load it with :meth:`from_conf` / :meth:`from_loader`."""

    name: TemplateName
    type: Literal["Workflow"] = Field("Workflow", description="Marks the template as a workflow.")
    desc: str | None = Field(None, description="Free text for readers; never run.")
    params: dict[str, ParamSpec] = Field(
        default_factory=dict, description="Inputs of a run: name -> type name or param mapping."
    )
    on: list[CronEvent] = Field(
        default_factory=list,
        description="Cron schedules the scheduler runs it on.",
        json_schema_extra=lambda schema: _on_schema(schema),
    )
    jobs: dict[str, Job] = Field(min_length=1, description="Job id -> job; they run as their needs allow.")
    max_parallel: int | None = Field(None, alias="max-parallel", ge=1, description="Jobs running at once.")
    timeout_minutes: float | None = Field(
        None,
        alias="timeout-minutes",
        gt=0,
        le=MAX_MINUTES,
        description="The run is cancelled after this long.",
    )
    tags: list[str] = Field(
        default_factory=list,
        description=(
            "Words to find the workflow by: shown by `runwright list` and the pages, stored with "
            "each of its runs so `runwright runs --tag` and the runs list filter on them."
        ),
    )
    concurrency: Concurrency | None = Field(
        None, description="A group whose runs share `limit` slots across processes (docs/concurrency.md)."
    )
    max_active_runs: int | None = Field(
        None,
        alias="max-active-runs",
        ge=1,
        le=MAX_LIMIT,
        description="Runs of this workflow at once, however started; more wait in order (QUEUED).",
    )
    notify: list[NotifyTarget] = Field(
        default_factory=list, description="Who is told when a run ends: webhooks or email (docs/alerts.md)."
    )
    runs_on: RunsOn | None = Field(
        None, alias="runs-on", description="Default executor of every job (a job's runs-on wins)."
    )

    _runtime: Runtime | None = PrivateAttr(default=None)
    _source: Path | None = PrivateAttr(default=None)
    _conf_path: Path | None = PrivateAttr(default=None)
    _definition_hash: str = PrivateAttr(default="")
    _order: tuple[str, ...] = PrivateAttr(default=())
    _released_after: tuple[str, ...] = PrivateAttr(default=())
    _raw: dict[str, Any] | None = PrivateAttr(default=None)
    _typed: dict[str, Any] | None = PrivateAttr(default=None)  # the last params parameterize() made
    _typed_for: datetime | None = PrivateAttr(default=None)  # ... for this logical date

    @field_validator("on", mode="before")
    @classmethod
    def _on_forms(cls, value: Any) -> Any:
        return normalise_on(value)

    @model_validator(mode="wrap")
    @classmethod
    def _on_release(cls, data: Any, handler: Any) -> Workflow:
        """``on: {release: [wf, ...]}``: run after each release of those workflows finishes."""
        data, upstream = split_release_triggers(data)
        workflow = handler(data)
        if workflow.name in upstream:
            raise ValueError(f"on.release: workflow '{workflow.name}' cannot be released after itself")
        workflow._released_after = upstream
        return workflow

    @property
    def released_after(self) -> tuple[str, ...]:
        """The workflows whose finished releases start a release of this one (``on.release``)."""
        return self._released_after

    @model_validator(mode="after")
    def _dag(self) -> Workflow:
        for job_id, job in self.jobs.items():
            if job.id is not None and job.id != job_id:
                raise ValueError(
                    f"job '{job_id}' has id '{job.id}': a job's id is its key (drop 'id:' or make them equal)"
                )
            unknown = [need for need in job.needs if need not in self.jobs]
            if unknown:
                known = ", ".join(self.jobs)
                hints = "".join(did_you_mean(need, set(self.jobs) - {job_id}) for need in unknown)
                raise ValueError(
                    f"job '{job_id}' needs unknown job(s) {', '.join(unknown)}{hints} (jobs: {known})"
                )
        sorter = graphlib.TopologicalSorter({jid: job.needs for jid, job in self.jobs.items()})
        try:
            self._order = tuple(sorter.static_order())
        except graphlib.CycleError as exc:
            cycle = " -> ".join(exc.args[1])
            raise ValueError(f"jobs form a cycle: {cycle}") from None
        return self

    @model_validator(mode="after")
    def _runs_on_installed(self, info: ValidationInfo) -> Workflow:
        runtime = (info.context or {}).get("runtime")
        if runtime is not None and self.runs_on is not None:
            check_installed(self.runs_on, runtime.executors, "")
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
    def definition(self) -> dict[str, Any]:
        """The validated template as a plain mapping (``${VAR}`` substituted): enough to rebuild
        this workflow in another process (a Dask worker) through the same stage kinds."""
        if self._raw is not None:
            return self._raw
        return self.model_dump(by_alias=True, exclude_unset=True, mode="python")

    @property
    def definition_hash(self) -> str:
        return self._definition_hash

    @property
    def job_order(self) -> tuple[str, ...]:
        return self._order

    # -- params ----------------------------------------------------------------------------

    def parameterize(
        self, params: Mapping[str, Any] | None, release: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Validate and convert run-time params; apply defaults; name the param on error.

        ``release`` is the run's release context (models/release.py): a date or datetime param
        without a default is its logical date, and a default may hold ``${{ release.* }}``.
        Without one, a plain manual run's: the wall clock.
        A param that is not declared is an error when it looks like a typo of a declared one
        (did you mean), else a warning (``UndeclaredParamWarning``) and it is kept as given: the
        seed passes such values.
        """
        last = self._typed
        logical_date = release["logical_date"] if release else self.manual_logical_date(params)
        same_date = logical_date == self._typed_for
        if last is not None and params is not None and params == last and same_date:
            # what this method returned (the command line checked them, then the release runs
            # them): converted already, so a run converts its params once and keeps one "now"
            return dict(last)
        given = dict(params or {})
        problems = self._undeclared_problems(given)
        typed: dict[str, Any] = {}
        for key, spec in self.params.items():
            try:
                if key in given and given[key] is not None:
                    typed[key] = spec.convert(given.pop(key))
                elif spec.is_required():
                    given.pop(key, None)
                    if any(f"did you mean '{key}'?" in message for _, message in problems):
                        continue  # given under a misspelt name, said above
                    problems.append((key, f"is required (a {spec.type} value) but was not given"))
                else:
                    given.pop(key, None)
                    typed[key] = self._default(spec, release, logical_date)
            except ValueError as exc:
                problems.append((key, str(exc)))
        if problems:  # every wrong param at once
            raise ParamError.of(self.name, problems)
        typed.update(given)
        self._typed = typed
        self._typed_for = logical_date
        return dict(typed)

    def _default(self, spec: Any, release: Mapping[str, Any] | None, logical_date: datetime) -> Any:
        """A param's default: ``${{ release.* }}`` in it rendered, an implicit date the
        logical date."""
        if isinstance(spec.default, str) and "${{" in spec.default:  # rendered by the runtime's engine
            if release is None:
                from runwright.models.release import release_context

                release = release_context(logical_date, "manual", events=self.on)
            value = self.runtime.expressions.render(spec.default, {"release": release})
            return None if value is None else spec.convert(value)
        return spec.default_value(logical_date)

    def manual_logical_date(self, params: Mapping[str, Any] | None = None) -> datetime:
        """A plain manual run's logical date: the wall clock, in the cron's zone (else UTC).

        Given back what :meth:`parameterize` returned, the date those params were made for (a
        run converts its params once and keeps one "now")."""
        from datetime import UTC

        if params is not None and self._typed_for is not None and params == self._typed:
            return self._typed_for
        return datetime.now(UTC).astimezone(self.zone or UTC)

    def _undeclared_problems(self, given: Mapping[str, Any]) -> list[tuple[str, str]]:
        """Undeclared params that look like a typo of a declared one (the others warn)."""
        undeclared = [key for key in given if key not in self.params]
        if not undeclared:
            return []
        declared = ", ".join(self.params) or "none"
        free = [name for name in self.params if name not in given]
        problems = []
        for key in undeclared:
            meant = closest(str(key), free)
            if meant:
                problems.append((key, f"is not declared; did you mean '{meant}'? (declared: {declared})"))
        if problems:
            return problems
        for key in undeclared:
            warnings.warn(
                f"workflow '{self.name}': param '{key}' is not declared (declared: {declared}); "
                "it is passed through as given",
                UndeclaredParamWarning,
                stacklevel=1,  # one location: each message is shown once per process
            )
        return []

    # -- running ---------------------------------------------------------------------------

    def execute(
        self,
        params: Mapping[str, Any] | None = None,
        *,
        run_id: str | None = None,
        parent_run_id: str | None = None,
        **options: Any,
    ) -> Result:
        """Run every job and return the :class:`Result` (never raises for a failed stage).

        ``run_id``: the caller's own id for the run, 1 to 128 letters, digits, ``-``, ``_`` or
        ``.`` (it names the trace file); by default a new one. Another raises ``RunIdError``.
        """
        from runwright.engine.runner import run_workflow

        return run_workflow(self, params, run_id=run_id, parent_run_id=parent_run_id, **options)

    def release(
        self,
        logical_date: datetime | date | str,
        params: Mapping[str, Any] | None = None,
        *,
        mode: str = "normal",
        release_type: str = "manual",
        audit: Any = None,
        **options: Any,
    ) -> ReleaseOutcome:
        """One run for one cron tick, claimed and recorded in the audit store.

        ``logical_date``: a datetime, a date or an ISO string; naive values are read in the
        workflow's time zone (see :meth:`as_logical_date`).
        ``mode``: ``normal`` (skip a tick already released), ``retry`` (new attempt unless one
        is RUNNING or SUCCESS), ``force`` (new attempt unless one is RUNNING) or
        ``dryrun`` (check everything, run nothing). Params may use ``${{ release.* }}``.
        """
        from runwright.schedule.release import release

        return release(
            self,
            self.as_logical_date(logical_date),
            params,
            mode=mode,
            release_type=release_type,
            audit=audit,
            **options,
        )

    @property
    def zone(self) -> ZoneInfo | None:
        """The time zone of the ``on:`` entries (UTC without any); None when they differ."""
        zones = {event.timezone for event in self.on} or {"UTC"}
        return ZoneInfo(zones.pop()) if len(zones) == 1 else None

    def as_logical_date(self, value: datetime | date | str) -> datetime:
        """A release's logical date from a datetime, a date or an ISO 8601 string (an aware
        value as it is; a naive one in the workflow's time zone)."""
        expected = "an ISO datetime such as '2026-01-01T00:00' (or '...+07:00'), a datetime or a date"
        parsed: Any = value
        if isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value.strip())
            except ValueError:
                parsed = None
        elif isinstance(value, date) and not isinstance(value, datetime):
            parsed = datetime(value.year, value.month, value.day)
        if not isinstance(parsed, datetime):
            raise RunwrightError(f"workflow '{self.name}': release expects {expected}, got {value!r}")
        if parsed.tzinfo is not None:
            return parsed
        zone = self.zone
        if zone is None:
            zones = ", ".join(sorted({event.timezone for event in self.on}))
            raise RunwrightError(
                f"workflow '{self.name}': {value!r} has no UTC offset and the schedules use several "
                f"time zones ({zones}); give an offset, e.g. '2026-01-01T00:00+07:00'"
            )
        return parsed.replace(tzinfo=zone)

    def start(self, params: Mapping[str, Any] | None = None, **options: Any) -> RunHandle:
        """Run in the background; the handle can ``cancel()`` it or wait for ``result()``."""
        from runwright.engine.runner import start_workflow

        return start_workflow(self, params, **options)
