"""One error tree. Every error says where: file, template, path inside it, and what was expected.

These are errors for the person holding the YAML file, so ``str(error)`` is the whole readable
message; the CLI prints it without a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path


class RunwrightError(Exception):
    """Base of every error runwright raises on purpose."""

    permanent: bool = False
    """The same input fails the same way every time (a template, expression or argument
    mistake): ``retry`` does not try it again unless ``retry.on`` names it."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong at one place of a template (``jobs.x.stages[2].uses``)."""

    path: str
    message: str
    loc: tuple[str | int, ...] = ()
    """The same place as ``path``, as keys and indexes (for file:line:col)."""

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ConfError(RunwrightError):
    """The conf path cannot be read: bad YAML, duplicate names, unknown template."""

    permanent = True


class TemplateError(RunwrightError):
    """A template does not validate. Carries every problem found, not just the first."""

    permanent = True

    def __init__(self, file: Path | str | None, template: str, problems: list[Problem]) -> None:
        self.file = str(file) if file is not None else "<memory>"
        self.template = template
        self.problems = problems
        lines = [f"{self.file}: template '{template}' is invalid:"]
        lines += [f"  - {problem}" for problem in problems]
        super().__init__("\n".join(lines))


class ParamError(RunwrightError):
    """A run-time param is missing, unknown or of the wrong type."""

    permanent = True

    def __init__(self, workflow: str, param: str, message: str) -> None:
        self.workflow = workflow
        self.param = param
        self.problems = [(param, message)]
        super().__init__(f"workflow '{workflow}': param '{param}': {message}")

    @classmethod
    def of(cls, workflow: str, problems: list[tuple[str, str]]) -> ParamError:
        """One error for every wrong param (``problems``: (param, message) pairs)."""
        error = cls(workflow, *problems[0])
        if len(problems) > 1:
            error.problems = list(problems)
            lines = "\n".join(f"  - param '{param}': {message}" for param, message in problems)
            error.args = (f"workflow '{workflow}': {len(problems)} params are wrong:\n{lines}",)
        return error


class RunIdError(RunwrightError, ValueError):
    """A run id given by a caller that cannot name a trace file or a URL (``/runs/<id>``)."""

    permanent = True


class EnvSubstitutionError(RunwrightError):
    """A ``${VAR}`` names a variable that is not set and has no ``:-default``."""


class ExpressionError(RunwrightError):
    """A ``${{ ... }}`` expression cannot be compiled or evaluated."""

    permanent = True

    def __init__(self, expression: str, message: str) -> None:
        self.expression = expression
        self.problem = message
        super().__init__(f"expression '${{{{ {expression.strip()} }}}}': {message}")


class CallResolutionError(RunwrightError):
    """A ``uses:`` reference names no registered call function.

    ``reason`` is the one-line cause; ``available`` the references that do exist, when the error
    lists them (the static check shows them on its one line, a run below the reason).
    """

    NONE_AVAILABLE = "none (install runwright-contrib or a plugin, or set RUNWRIGHT_REGISTRY)"

    def __init__(self, reason: str, available: list[str] | None = None) -> None:
        self.reason = reason
        self.available = available
        if available is None:
            super().__init__(reason)
        else:
            listing = "\n  ".join(available) or self.NONE_AVAILABLE
            super().__init__(f"{reason}\nAvailable:\n  {listing}")

    permanent = True


class CallArgumentError(RunwrightError):
    """The ``with:`` arguments do not match the call function's signature."""

    permanent = True


class StageFailed(RunwrightError):
    """A stage ran and failed (non-zero exit, ``raise:``, a call function's error).

    ``error_name`` is what ``retry: {on: [...]}`` and ``catch:`` match; ``outputs`` keeps what
    the stage produced before failing (a script's stdout and stderr).
    """

    def __init__(self, message: str, *, error_name: str | None = None, outputs: dict | None = None) -> None:
        super().__init__(message)
        if error_name:
            self.error_name = error_name
        self.outputs = outputs or {}


class StageSkipped(RunwrightError):
    """Raised inside a stage to mark it SKIP with a reason."""


class RunCancelled(RunwrightError):
    """The run (or its scope) was cancelled while this work was in progress."""


class StageTimeout(RunwrightError):
    """Work ran past its ``timeout-minutes``. Named ``Timeout`` for ``retry: {on: [Timeout]}``."""

    error_name = "Timeout"


class TooManyTicks(RunwrightError):
    """A range of cron ticks (a backfill, a catch-up) holds more ticks than one pass may list."""

    def __init__(self, message: str, cronjob: str = "") -> None:
        self.cronjob = cronjob
        super().__init__(message)


class WorkflowNotFound(ConfError):
    """No template of that name in the conf path."""


class RunwrightWarning(UserWarning):
    """Something runwright goes on with but the person holding the template should know."""


class UndeclaredParamWarning(RunwrightWarning):
    """A run got a param its workflow does not declare (passed through as given)."""


class PluginLoadError(RunwrightError):
    """An installed plugin could not be loaded: names the plugin, its distribution and the cause."""
