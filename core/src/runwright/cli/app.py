"""The click application and the error boundary: usage errors exit 2, never a traceback."""

from __future__ import annotations

import os
import sys
import warnings
from typing import Any

import click
from click.exceptions import Exit

from runwright.cli.commands import LazyGroup
from runwright.errors import RunwrightError, RunwrightWarning

EXIT_FAILED = 1
EXIT_USAGE = 2


def show_version(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        from runwright import __version__  # the distribution's version (a test keeps them equal)

        click.echo(f"runwright {__version__}")
        ctx.exit()


@click.group(
    cls=LazyGroup,  # a command's module is imported only when that command is used
    name="runwright",
    no_args_is_help=True,
    context_settings={"show_default": True},  # every command's help shows its options' defaults
)
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=show_version,
    help="Print runwright's version and exit.",
)
def app() -> None:
    """Run, validate and inspect runwright workflow templates."""


def fail_usage(message: str) -> Exit:
    """Print ``message`` on stderr and return the exit for a usage/validation error."""
    click.echo(f"error: {message}", err=True)
    return Exit(EXIT_USAGE)


def show_warning(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
    """runwright's own warnings read ``warning: ...`` on stderr, like its errors."""
    if issubclass(category, RunwrightWarning):
        click.echo(f"warning: {message}", err=True)
    else:
        python_show_warning(message, category, *args, **kwargs)


python_show_warning = warnings.showwarning


def main() -> None:
    from runwright.config import unknown_variable_warnings
    from runwright.console import install_console_streams
    from runwright.heap import restarted, started_as_command
    from runwright.masking import register_environment_secrets
    from runwright.shutdown import freeze_collector_at_exit

    install_console_streams()  # every line this command prints is masked, whoever prints it,
    register_environment_secrets(os.environ)  # by the secrets of the environment from the start
    freeze_collector_at_exit()  # this process is the command's: skip the shutdown collections
    warnings.showwarning = show_warning
    started_as_command()  # `serve` and `scheduler` may restart it (runwright/heap.py)
    for warning in [] if restarted() else unknown_variable_warnings():  # said once, not again
        click.echo(warning, err=True)
    try:
        app()  # plugins' commands (`serve`) are found when asked for
    except RunwrightError as exc:  # anything a command did not turn into an exit itself
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
