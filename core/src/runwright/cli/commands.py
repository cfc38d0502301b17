"""Which module holds each command, and a click group that imports a command only when it is used.

``runwright --help`` lists every command with its one-line help from :data:`COMMANDS`, without
importing the commands. A command's module is imported when the command runs or shows its own
help; it imports click and its options, and the models, engine and store inside the command.
Plugin commands (``serve``) come from the plugins that implement ``register_cli_commands``,
loaded only when one of them is asked for; the help page lists them from the plugin cache
(:mod:`runwright.plugin_index`: what each plugin added when the command line last loaded it), and
loads them itself only when the cache does not know them yet.
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
        self.listed_plugin_commands: dict[str, click.Command] | None = None

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
        """Commands of the plugins implementing ``register_cli_commands`` (only those are imported).

        Each plugin's hook is called on its own, so the plugin cache can remember what each one
        adds; where two add a command of one name, the first loaded wins, as it did on one group.
        """
        if self.plugin_commands is None:
            from runwright.plugins import CLI_HOOK, get_cli_plugin_manager, hook_alone, remember_cli_commands

            pm = get_cli_plugin_manager()
            found: dict[str, click.Command] = {}
            learned: dict[str, list[dict[str, Any]]] = {}
            for name, plugin in pm.list_name_plugin():
                plugin_app = click.Group("runwright")
                hook_alone(pm, plugin, CLI_HOOK)(app=plugin_app)
                learned[str(name)] = [command_summary(cmd) for cmd in plugin_app.commands.values()]
                for command_name, command in plugin_app.commands.items():
                    found.setdefault(command_name, command)
            remember_cli_commands(pm, learned)
            # plugins' commands never replace a built-in one
            self.plugin_commands = {name: cmd for name, cmd in found.items() if name not in COMMANDS}
        return self.plugin_commands

    def listed_plugins(self) -> dict[str, click.Command]:
        """The plugins' commands as a help page lists them: stand-ins made from the plugin cache
        (nothing imported), else the real ones."""
        if self.plugin_commands is not None:
            return self.plugin_commands
        if self.listed_plugin_commands is None:
            self.listed_plugin_commands = cached_plugin_commands()
            if self.listed_plugin_commands is None:
                return self.plugins()
        return self.listed_plugin_commands

    def names(self) -> list[str]:
        """Built-in commands in :data:`COMMANDS` order, then any other loaded one, then plugins'."""
        names = list(COMMANDS) + [name for name in self.loaded if name not in COMMANDS]
        return names + [name for name in self.listed_plugins() if name not in names]

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def __contains__(self, name: object) -> bool:
        return name in COMMANDS or name in self.loaded or name in self.listed_plugins()

    def __setitem__(self, name: str, command: click.Command) -> None:
        self.loaded[name] = command

    def __delitem__(self, name: str) -> None:
        del self.loaded[name]


def command_summary(command: click.Command) -> dict[str, Any]:
    """What the plugin cache keeps of a plugin's command: its attributes named in
    :data:`~runwright.plugin_index.COMMAND_FIELDS`, the keyword arguments of a stand-in."""
    from runwright.plugin_index import COMMAND_FIELDS

    return {key: getattr(command, key) for key in COMMAND_FIELDS}


def cached_plugin_commands() -> dict[str, click.Command] | None:
    """Stand-ins for the plugins' commands from the plugin cache (name and help, as each plugin
    last added them), without importing pluggy or any plugin; None when the cache does not know
    them all yet, or when hook calls are traced (``RUNWRIGHT_TRACE_PLUGINS``) and must be made."""
    from runwright.config import PluginSwitches
    from runwright.plugin_index import PluginIndex

    switches = PluginSwitches.from_env()
    if switches.disable_plugin_autoload:
        return {}
    if switches.trace_plugins:
        return None
    summaries = PluginIndex.load().cli_commands(switches.disabled_plugins)
    if summaries is None:
        return None
    stand_ins: dict[str, click.Command] = {}
    for summary in summaries:
        if summary["name"] not in COMMANDS:
            stand_ins.setdefault(summary["name"], click.Command(**summary))
    return stand_ins


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
            command = self.commands.loaded.get(name) or self.commands.listed_plugins().get(name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)
