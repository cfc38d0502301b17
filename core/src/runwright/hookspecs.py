"""Every extension point of runwright, in one place.

Built-in features (stage kinds, filters, the registry-package call resolver, the local executor)
implement these same hooks, so an outside plugin is never a second-class citizen. A plugin is a
module (or object) with functions marked ``@runwright.hookimpl``, registered through the entry
point group ``runwright``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from pathlib import Path

hookspec = pluggy.HookspecMarker("runwright")
hookimpl = pluggy.HookimplMarker("runwright")


@hookspec
def register_stage_types(register: Callable[[type], None]) -> None:
    """Register stage kinds by calling ``register(StageClass)`` once per kind.

    A stage kind is a subclass of :class:`runwright.models.stage.Stage` whose ``kind`` class
    variable names its distinguishing YAML key (``bash``, ``uses``...). A stage in a template is
    parsed as the one kind whose key it holds; two kinds may not claim the same key.
    """


@hookspec
def register_filters(register: Callable[[str, Callable[..., Any]], None]) -> None:
    """Register template filters by calling ``register(name, function)``.

    The function receives the filtered value first, then the filter's arguments, as a jinja2
    filter does: ``${{ params.run-date | fmt(fmt='%Y%m%d') }}``.
    """


@hookspec
def register_executors(register: Callable[[str, Callable[..., Any]], None]) -> None:
    """Register job executors by calling ``register(name, factory)``.

    A job picks one by name with ``runs-on: {type: NAME, ...}``. ``factory(max_workers: int,
    **options)`` (options: the other ``runs-on`` keys that are set, e.g. ``address``, ``retries``)
    returns an object with the ``concurrent.futures.Executor`` interface (``submit`` returning a
    future, ``shutdown``); the runner submits ``runner.run_job(job_id)`` to it. An executor that
    runs jobs in other processes (a Dask cluster) also defines ``submit_job(runner, job_id)``
    returning a future of the job's Status, and ships a picklable
    :class:`runwright.engine.job_task.JobTask` instead (see that module). The engine decides what
    runs next; an executor only runs what it is given.
    """


@hookspec(firstresult=True)
def resolve_call(module: str, name: str, tag: str) -> Any:
    """Resolve ``uses: MODULE/NAME@TAG`` to a :class:`runwright.registry.CallFunction`.

    Return ``None`` when this plugin does not provide it; the first non-None answer wins.
    Resolution never imports an arbitrary path written in a template: only functions marked
    with ``@tag`` in modules a plugin (or ``RUNWRIGHT_REGISTRY``) names are candidates.
    """


@hookspec
def list_calls() -> list[Any]:
    """Return the :class:`runwright.registry.CallFunction` objects this plugin provides.

    Used to list what is available when a ``uses:`` reference is unknown, and by
    ``runwright plugins``.
    """


@hookspec(firstresult=True)
def make_audit_backend(url: str, state_dir: Path) -> Any:
    """Make the audit backend for ``url`` (``file:///dir``, ``sqlite:///file.db``...).

    Return ``None`` when the URL's scheme is not yours. The backend records one row per
    release and claims (workflow, release) atomically; see ``runwright.audit``. A relative path
    in the URL is read against ``state_dir`` (the conf path's state folder), never the current
    directory, so every command run from any folder reads the same store; the backend's ``url``
    is the absolute form.
    """


@hookspec(firstresult=True)
def default_audit_url(state_dir: Path) -> str | None:
    """The URL of a store of yours inside ``state_dir``, used when no URL is configured.

    The built-in file store answers first; with only another local store installed (SQLite),
    that one is the default, so ``pip install 'runwright[sqlite]'`` records runs at once.
    """


@hookspec
def audit_backend_schemes() -> list[str]:
    """Return the URL schemes this plugin's audit backend accepts (for error messages)."""


@hookspec(firstresult=True)
def stage_scopes(stage: Any) -> list[Any] | None:
    """Say which stage lists a stage runs inside itself and which names it binds for them.

    Return a list of :class:`runwright.models.stage.NestedScope` for stages of your kind, else
    ``None``. ``binds`` maps each name the kind sets for its children (``item``, ``loop``...) to
    the keys that name holds (a tuple), or to ``None`` when its keys cannot be known before the
    run. ``runwright validate`` resolves ``${{ }}`` names against exactly these bindings, so a
    name that validates is a name the run sets. Built-in kinds answer this hook too.
    """


@hookspec
def check_stage(stage: Any, checker: Any) -> None:
    """Check one stage statically (``runwright validate``, ``run --dry-run``, before every run).

    Called for every stage; check only stages of your kind. ``checker.report(rule, message,
    field=...)`` records a problem at one of the stage's fields; ``checker.names_here()`` lists
    the names an expression can use there; ``checker.declare_outputs(names)`` says which
    output names the stage can bind when that is known before it runs (then
    ``stages.ID.outputs.X`` of another name is an ``unknown-output`` error). Nothing may run,
    connect or write.
    """


@hookspec
def run_finished(workflow: Any, result: Any) -> None:
    """A run of ``workflow`` ended with ``result`` (a :class:`runwright.engine.result.Result`).

    Called once per run, in the process that ran it, after the run's last job and before its
    trace is closed. Return quickly: send anything slow from a thread of your own. An exception
    raised here is written to the run's trace and never changes the run's result. The built-in
    ``notify:`` key is implemented through this hook (``runwright.engine.notify``).
    """


@hookspec(firstresult=True)
def make_run_tracer(
    workflow: str,
    run_id: str,
    parent_run_id: str | None,
    release: dict[str, Any],
    traceparent: str | None,
    remote: bool,
) -> Any:
    """A tracer for one run (distributed tracing: OpenTelemetry spans), or ``None``.

    Called once per run (and once per job or strategy a remote executor runs, with ``remote``
    true), before its first event. ``traceparent`` is the W3C trace context the run continues:
    the ``trigger:`` stage, the ``on: release`` upstream run or the driver's span (remote), else
    ``None`` (the plugin may read the process's ``TRACEPARENT``). The tracer is a
    :class:`runwright.trace.RunTracer`: it receives every trace event of the run (masked, as the
    JSON-lines trace does) and answers ``traceparent(job, strategy, stage)``, which the engine
    hands to the stage's processes (``TRACEPARENT``), to ``trigger:`` runs, followers, remote
    workers and call functions (:func:`runwright.trace.current_traceparent`). With no plugin
    answering, a run pays for this one call only. A tracer must never raise or block.
    """


@hookspec
def secret_sources(conf_path: Path | None) -> list[Any]:
    """Return the places ``${NAME}`` values can come from for templates under ``conf_path``.

    Each is a :class:`runwright.secret_sources.SecretSource`: ``order`` (ascending; the first
    source holding a name wins: the environment is 0, the secrets folder 100, the ``.env``
    files 200 and 300, plugins 400 or later), ``label`` (for messages), ``always_secret``
    (every value masked, else names that mark secrets only), ``names()`` (what it can give,
    without reading values: ``runwright validate``) and ``get(name)`` (the value or None).
    Values are masked like environment secrets, never stored, and read again on rerun. The
    built-in environment, secrets folder and ``.env`` sources answer this hook too.
    """


@hookspec
def register_cli_commands(app: Any) -> None:
    """Add commands to the ``runwright`` command line, e.g. ``serve``: ``app`` is a
    ``click.Group``; add each command with ``app.add_command(command)`` or ``@app.command()``.

    Called once, when the command line lists the commands or is asked for one that is not
    built in, so a plugin can contribute commands whose dependencies (a web server...) core
    does not carry. A command named like a built-in one is ignored. Import click and the
    command's own modules inside the hook, not at the plugin's module level: every process
    that loads plugins imports that.
    """
