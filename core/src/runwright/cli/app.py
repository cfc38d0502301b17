"""The typer application and the error boundary: usage errors exit 2, never a traceback."""

from __future__ import annotations

import os
import sys
import warnings
from typing import Any

import typer
import typer.main

from runwright.cli.commands import LazyGroup
from runwright.errors import RunwrightError, RunwrightWarning

app = typer.Typer(
    name="runwright",
    cls=LazyGroup,  # a command's module is imported only when that command is used
    help="Run, validate and inspect runwright workflow templates.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain click help: ``[start, end]`` in a docstring is text, not rich markup, and rich is
    # not imported just to print help.
    rich_markup_mode=None,
)

EXIT_FAILED = 1
EXIT_USAGE = 2


def show_version(value: bool) -> None:
    if value:
        from importlib.metadata import version  # only for --version: start-up stays lean

        typer.echo(f"runwright {version('runwright')}")
        raise typer.Exit()


@app.callback()
def options(
    version: bool = typer.Option(
        False, "--version", help="Print runwright's version and exit.", callback=show_version, is_eager=True
    ),
) -> None:
    """Run, validate and inspect runwright workflow templates."""


def fail_usage(message: str) -> typer.Exit:
    """Print ``message`` on stderr and return the exit for a usage/validation error."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(EXIT_USAGE)


def show_warning(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
    """runwright's own warnings read ``warning: ...`` on stderr, like its errors."""
    if issubclass(category, RunwrightWarning):
        typer.echo(f"warning: {message}", err=True)
    else:
        python_show_warning(message, category, *args, **kwargs)


python_show_warning = warnings.showwarning


def main() -> None:
    from runwright.config import unknown_variable_warnings
    from runwright.console import install_console_streams
    from runwright.masking import register_environment_secrets
    from runwright.shutdown import freeze_collector_at_exit

    install_console_streams()  # every line this command prints is masked, whoever prints it,
    register_environment_secrets(os.environ)  # by the secrets of the environment from the start
    freeze_collector_at_exit()  # this process is the command's: skip the shutdown collections
    warnings.showwarning = show_warning
    for warning in unknown_variable_warnings():
        typer.echo(warning, err=True)
    try:
        typer.main.get_group(app)()  # plugins' commands (`serve`) are found when asked for
    except RunwrightError as exc:  # anything a command did not turn into an exit itself
        typer.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
