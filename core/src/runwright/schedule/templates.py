"""What the scheduler knows of each template before its first release.

Start-up reads every file once but validates only what deciding ticks needs: each workflow's
``on:`` (cron, timezone, bounds, catch-up; ``on.release``) and the Schedule templates. A
workflow's jobs, stages and params are validated when it is first released (or, while the
scheduler waits for its next tick, ahead of time): validating 10,000 full models up front was
most of a 10 s start-up.

The rule for a broken template:

- a file that is not YAML, a duplicate name, an unknown ``type``, an invalid ``on:`` or an
  invalid Schedule is skipped at start-up and named (file, template, field) in the start-up
  summary;
- any other problem of a workflow is found when it is built; each of its due ticks is then
  claimed like any release and recorded FAILED in the audit store with that error, so it is
  never skipped silently.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter, ValidationError

from runwright.errors import Problem, RunwrightError, TemplateError
from runwright.loader import TemplateSource, build_model, definition_hash, problems_from, substitute_env
from runwright.models.events import CronEvent, normalise_on, split_release_triggers
from runwright.secret_sources import SecretLookup

if TYPE_CHECKING:
    from runwright.models.workflow import Workflow
    from runwright.runtime import Runtime

log = logging.getLogger("runwright.scheduler")

CRON_EVENTS: TypeAdapter[list[CronEvent]] = TypeAdapter(list[CronEvent])
CRON_EVENT_KEYS = frozenset(
    {"schedule", "release"}
    | {f.alias or n for n, f in CronEvent.model_fields.items()}
    | set(CronEvent.model_fields)
)


def schedule_of(
    source: TemplateSource, secrets: SecretLookup | None = None
) -> tuple[list[CronEvent], tuple[str, ...]]:
    """A workflow template's cron entries and ``on.release`` names, validated as the Workflow
    model would (TemplateError naming the file, template and field when they are not);
    ``${VAR}`` in them read from ``secrets`` (the conf path's sources), else the environment."""
    raw_on = source.raw.get("on")
    if raw_on is None:
        return [], ()
    where = f"{source.file}: template '{source.name}'"
    try:
        data, upstream = split_release_triggers({"on": raw_on})
        on = normalise_on(data["on"])
    except ValueError as exc:
        raise TemplateError(source.file, source.name, [Problem("on", str(exc), ("on",))]) from None
    if source.name in upstream:
        message = f"on.release: workflow '{source.name}' cannot be released after itself"
        raise TemplateError(source.file, source.name, [Problem("on.release", message, ("on", "release"))])
    looked_in = secrets.looked_in() if secrets is not None else ""
    on = substitute_env(on, frozenset(), secrets, where=where, looked_in=looked_in)
    try:
        events = CRON_EVENTS.validate_python(on)
    except ValidationError as exc:
        problems = [
            Problem(f"on{'' if p.path.startswith('[') else '.'}{p.path}", p.message, ("on", *p.loc))
            for p in problems_from(exc, CRON_EVENT_KEYS)
        ]
        raise TemplateError(source.file, source.name, problems) from None
    return events, upstream


@dataclass
class WorkflowTemplate:
    """One workflow template: its cron entries now, its validated model on first use."""

    source: TemplateSource
    events: list[CronEvent]
    released_after: tuple[str, ...]
    conf_path: Path
    _built: Workflow | None = field(default=None, repr=False)
    _error: RunwrightError | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.source.name

    @property
    def file(self) -> Path:
        return self.source.file

    @property
    def tags(self) -> list[str]:
        """The template's ``tags:`` as written (a record of a release that failed to build has them too)."""
        tags = self.source.raw.get("tags")
        return [tag for tag in tags if isinstance(tag, str)] if isinstance(tags, list) else []

    @cached_property
    def definition_hash(self) -> str:
        """The hash a release record carries (the same as the built model's)."""
        return definition_hash(self.source.raw)

    @property
    def built(self) -> bool:
        return self._built is not None or self._error is not None

    def build(self, runtime: Runtime) -> Workflow:
        """The validated Workflow, built once; a broken template raises the same error each time."""
        from runwright.models.workflow import Workflow

        if self._built is not None:
            return self._built
        if self._error is not None:
            raise self._error
        try:
            workflow = build_model(self.source, runtime, Workflow)
        except RunwrightError as exc:
            self._error = exc
            raise
        except Exception as exc:  # a plugin's bug or an unforeseen limit: this template is broken
            log.exception("building template '%s' of %s failed", self.name, self.file)
            problem = Problem("", f"cannot be built: {type(exc).__name__}: {exc}", ())
            self._error = TemplateError(self.file, self.name, [problem])
            raise self._error from None
        workflow._conf_path = self.conf_path
        self._built = workflow
        return workflow


class LazyWorkflows(Mapping[str, "Workflow"]):
    """Workflow templates by name; ``[name]`` builds (validates) the model on first use and
    raises its TemplateError when the template is broken."""

    def __init__(self, templates: Mapping[str, WorkflowTemplate], runtime: Runtime) -> None:
        self.templates = templates
        self.runtime = runtime

    def __getitem__(self, name: str) -> Workflow:
        return self.templates[name].build(self.runtime)

    def __iter__(self) -> Iterator[str]:
        return iter(self.templates)

    def __len__(self) -> int:
        return len(self.templates)

    def __contains__(self, name: Any) -> bool:
        return name in self.templates
