"""Which module holds each command, and a click group that imports a command only when it is used.

``runwright --help`` lists every command with its one-line help from :data:`COMMANDS`, without
importing the commands. A command's module is imported when the command runs or shows its own
help; it imports click and its options, and the models, engine and store inside the command.
Plugin commands (``serve``) come from the plugins that implement ``register_cli_commands``,
loaded only when they are listed or asked for.
A test keeps :data:`COMMANDS` equal to each command's real docstring.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, MutableMapping
from typing import Any

import click

#: name -> (module that registers it on the app, its one-line help: the docstring's first paragraph).
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("runwright.cli.run", "Run a workflow. Exit 0 on success, 1 when the run failed, 2 on bad input."),
    "validate": (
        "runwright.cli.templates",
        "Check every template of every file and print every problem at once.",
    ),
    "schema": (
        "runwright.cli.templates",
        "Print the JSON Schema of a template file (for yaml-language-server and editors).",
    ),
    "plugins": (
        "runwright.cli.plugins",
        "List every loaded plugin with its distribution, version and what it provides.",
    ),
    "logs": (
        "runwright.cli.runs",
        "Print a run's trace readably (stdout/stderr of stages included, secrets masked).",
    ),
    "rerun": (
        "runwright.cli.runs",
        "Run only what failed, was cancelled or never ran in RUN_ID; reuse what succeeded.",
    ),
    "scheduler": (
        "runwright.cli.schedule",
        "Release every scheduled workflow and Schedule template at its ticks until stopped.",
    ),
    "backfill": (
        "runwright.cli.schedule",
        "Release every tick in [start, end], oldest first: each run gets its tick as logical date.",
    ),
    "audit": ("runwright.cli.audit", "Look at release records in the audit store."),
    "runs": (
        "runwright.cli.history",
        "Recent runs, newest first: logical date, status, start, duration and the error that ended it.",
    ),
    "list": ("runwright.cli.workflows", "List the workflows with their next tick, last run status and tags."),
    "pause": (
        "runwright.cli.pause",
        "Pause a workflow's schedule: no scheduler sharing the audit store releases its ticks.",
    ),
    "unpause": (
        "runwright.cli.pause",
        "Unpause a workflow: its ticks are released again; missed ones follow its catch-up rule.",
    ),
}


class LazyCommands(MutableMapping[str, click.Command]):
    """The group's commands by name; a built-in one is imported on first access, plugins' on demand."""

    def __init__(self, loaded: dict[str, click.Command]) -> None:
        self.loaded = dict(loaded)
        self.plugin_commands: dict[str, click.Command] | None = None

    def __getitem__(self, name: str) -> click.Command:
        if name in self.loaded:
            return self.loaded[name]
        if name in COMMANDS:
            importlib.import_module(COMMANDS[name][0])  # its decorators add its commands here
            return self.loaded[name]
        command = self.plugins().get(name)
        if command is None:
            raise KeyError(name)
        return command

    def plugins(self) -> dict[str, click.Command]:
        """Commands of the plugins implementing ``register_cli_commands`` (only those are imported)."""
        if self.plugin_commands is None:
            from runwright.plugins import get_cli_plugin_manager

            plugin_app = click.Group("runwright")  # plugins' commands never replace a built-in one
            get_cli_plugin_manager().hook.register_cli_commands(app=plugin_app)
            found = plugin_app.commands
            self.plugin_commands = {name: cmd for name, cmd in found.items() if name not in COMMANDS}
        return self.plugin_commands

    def names(self) -> list[str]:
        """Built-in commands in :data:`COMMANDS` order, then any other loaded one, then plugins'."""
        names = list(COMMANDS) + [name for name in self.loaded if name not in COMMANDS]
        return names + [name for name in self.plugins() if name not in names]

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def __contains__(self, name: object) -> bool:
        return name in COMMANDS or name in self.loaded or name in self.plugins()

    def __setitem__(self, name: str, command: click.Command) -> None:
        self.loaded[name] = command

    def __delitem__(self, name: str) -> None:
        del self.loaded[name]


class LazyGroup(click.Group):
    """A click group whose help lists commands from :data:`COMMANDS` instead of importing them."""

    def __init__(self, *args: Any, commands: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands = LazyCommands(dict(commands or {}))

    def list_commands(self, ctx: click.Context) -> list[str]:
        assert isinstance(self.commands, LazyCommands)
        return self.commands.names()

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Like click's, with built-in commands' short help taken from :data:`COMMANDS`."""
        assert isinstance(self.commands, LazyCommands)
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            if name in COMMANDS and name not in self.commands.loaded:
                stand_in = click.Command(name, help=COMMANDS[name][1])  # shortened as click would
                rows.append((name, stand_in.get_short_help_str(limit)))
                continue
            command = self.commands.get(name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)
