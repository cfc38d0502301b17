"""The ``runwright`` entry points, found once per installation and cached on disk.

``importlib.metadata`` reads the metadata of every distribution in the environment to find one
group's entry points (~60 ms in a venv of a few hundred packages), on every start of the CLI. The
answer only changes when something is installed or removed, so it is cached in the user's cache
folder (``$XDG_CACHE_HOME/runwright`` or ``~/.cache/runwright``) keyed by a fingerprint of the
``sys.path`` folders: the names and modification times of the ``*.dist-info`` / ``*.egg-info``
folders in them (and of their ``entry_points.txt``), not the folders' own times, which change
whenever any file is written beside a script. The cache also remembers which hooks each plugin
implements (learned when it is first loaded), so a command needing one hook imports only the
plugins that implement it, and the commands a plugin adds to the command line (their names and
help, learned when the command line first loads it), so ``runwright --help`` lists them without
importing pluggy or any plugin. A missing, corrupt or stale cache is rebuilt; a cache folder that
cannot be written is ignored.
"""

from __future__ import annotations

import json
import os
import sys
import zlib
from dataclasses import asdict, dataclass, field
from typing import Any

ENTRY_POINT_GROUP = "runwright"
CACHE_VERSION = 1
KEPT_INDEXES = 8
METADATA_SUFFIXES = (".dist-info", ".egg-info")


@dataclass
class PluginEntryPoint:
    """One ``runwright`` entry point and the distribution that declares it."""

    name: str
    value: str
    distribution: str
    version: str
    #: The hooks the plugin implements, once it has been loaded; None until then.
    hooks: list[str] | None = field(default=None)
    #: What its ``register_cli_commands`` added, once the command line has loaded it: one
    #: mapping per command (:data:`COMMAND_FIELDS`); None until then.
    commands: list[dict[str, Any]] | None = field(default=None)


#: The hook through which a plugin adds commands to the command line.
CLI_HOOK = "register_cli_commands"

#: What is remembered of a plugin's command: enough for a help page to list it as click would.
COMMAND_FIELDS = {
    "name": (str,),
    "help": (str, type(None)),
    "short_help": (str, type(None)),
    "hidden": (bool,),
    "deprecated": (bool, str),
}


def cache_folder() -> str:
    """``$XDG_CACHE_HOME/runwright``, else ``~/.cache/runwright``. A string, not a ``Path``:
    :mod:`pathlib` (with the ``urllib.parse`` it imports) is a tenth of ``runwright --help``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "runwright")


def installed_fingerprint(path: list[str] | None = None) -> str:
    """A digest that changes whenever a distribution is installed, removed or reinstalled."""
    parts: list[object] = [sys.executable, CACHE_VERSION]
    for entry in sys.path if path is None else path:
        folder = entry or os.curdir
        try:
            listing = []
            with os.scandir(folder) as entries:
                for item in entries:
                    if item.name.endswith(METADATA_SUFFIXES):
                        entry_points = _mtime(item.path, "entry_points.txt")
                        listing.append((item.name, item.stat().st_mtime_ns, entry_points))
            # not the folder's own mtime: a script's folder changes with every file written
            # beside it, and only metadata folders can declare entry points
            parts.append((entry, sorted(listing)))
        except OSError:  # not a folder (a zip, a missing entry): importlib.metadata skips it too
            parts.append((entry, None))
    return digest(json.dumps(parts))


def digest(text: str) -> str:
    """A 64-bit hex digest of ``text`` (zlib's CRC-32 and Adler-32): enough to tell a handful of
    cached indexes apart, without ``hashlib``, whose OpenSSL set-up costs every command ~4 ms."""
    data = text.encode()
    return f"{zlib.crc32(data):08x}{zlib.adler32(data):08x}"


def _mtime(folder: str, name: str) -> int | None:
    try:
        return os.stat(os.path.join(folder, name)).st_mtime_ns
    except OSError:
        return None


class PluginIndex:
    """The entry points of this environment, from the cache when it is current."""

    def __init__(self, entry_points: list[PluginEntryPoint], fingerprint: str, cache_file: str) -> None:
        self.entry_points = entry_points
        self.fingerprint = fingerprint
        self.cache_file = cache_file
        self._saved: list[dict[str, object]] | None = self._entries()

    @classmethod
    def load(cls) -> PluginIndex:
        """Read the cache if it matches the installed distributions, else scan them and save it."""
        fingerprint = installed_fingerprint()
        key = digest(sys.executable)
        cache_file = os.path.join(cache_folder(), f"entry-points-v{CACHE_VERSION}-{key}.json")
        cached = _parse_entries(_read_indexes(cache_file).get(fingerprint))
        if cached is not None:
            return cls(cached, fingerprint, cache_file)
        index = cls(scan_entry_points(), fingerprint, cache_file)
        index._saved = None
        index.save()
        return index

    def learn_hooks(self, name: str, hooks: list[str]) -> None:
        """Remember which hooks the plugin ``name`` implements (saved by :meth:`save`)."""
        for entry in self.entry_points:
            if entry.name == name:
                entry.hooks = sorted(hooks)

    def learn_commands(self, name: str, commands: list[dict[str, Any]]) -> None:
        """Remember the commands the plugin ``name`` adds to the command line (saved by :meth:`save`)."""
        for entry in self.entry_points:
            if entry.name == name:
                entry.commands = [{key: command[key] for key in COMMAND_FIELDS} for command in commands]

    def blocked_names(self, disabled: tuple[str, ...]) -> set[str]:
        """Entry-point names not to load: named in ``disabled``, or declared by a distribution
        named there (the name is then skipped whichever distribution declares it)."""
        return {entry.name for entry in self.entry_points if {entry.name, entry.distribution} & set(disabled)}

    def selected(self, disabled: tuple[str, ...], needed_hook: str | None = None) -> list[PluginEntryPoint]:
        """The entry points loading imports, in order: none of :meth:`blocked_names`, the first
        of each name (as pluggy's loader), and with ``needed_hook`` only those known to
        implement it or not known yet."""
        blocked = self.blocked_names(disabled)
        chosen: set[str] = set()
        selected = []
        for entry in self.entry_points:
            if entry.name in blocked or entry.name in chosen:
                continue
            if needed_hook is not None and entry.hooks is not None and needed_hook not in entry.hooks:
                continue
            chosen.add(entry.name)
            selected.append(entry)
        return selected

    def cli_commands(self, disabled: tuple[str, ...]) -> list[dict[str, Any]] | None:
        """The commands the plugins the command line loads add, as remembered, in loading order
        (the first command of a name wins); None when one of those plugins has not been loaded
        by the command line yet."""
        commands: list[dict[str, Any]] = []
        for entry in self.selected(disabled, needed_hook=CLI_HOOK):
            if entry.hooks is None or entry.commands is None:
                return None
            commands.extend(entry.commands)
        return commands

    def save(self) -> None:
        """Write the cache if it changed; an unwritable cache folder only costs the next scan.

        One file per interpreter holds the last :data:`KEPT_INDEXES` fingerprints (a console
        script and ``python -c`` see different ``sys.path``; tests add folders to it).
        """
        entries = self._entries()
        if entries == self._saved:
            return
        indexes = _read_indexes(self.cache_file)
        indexes.pop(self.fingerprint, None)
        indexes[self.fingerprint] = entries  # the newest last
        kept = dict(list(indexes.items())[-KEPT_INDEXES:])
        try:
            os.makedirs(os.path.dirname(self.cache_file), exist_ok=True)
            temporary = f"{self.cache_file}.{os.getpid()}.tmp"
            with open(temporary, "w", encoding="utf-8") as stream:
                stream.write(json.dumps({"version": CACHE_VERSION, "indexes": kept}))
            os.replace(temporary, self.cache_file)
            self._saved = entries
        except OSError:
            pass

    def _entries(self) -> list[dict[str, object]]:
        return [asdict(entry) for entry in self.entry_points]


def scan_entry_points() -> list[PluginEntryPoint]:
    """Every ``runwright`` entry point, in the order ``importlib.metadata`` finds them (pluggy's)."""
    import importlib.metadata

    found = []
    for dist in importlib.metadata.distributions():
        for ep in dist.entry_points:
            if ep.group == ENTRY_POINT_GROUP:
                found.append(PluginEntryPoint(ep.name, ep.value, dist.metadata["Name"], dist.version))
    return found


def _read_indexes(cache_file: str) -> dict[str, object]:
    """fingerprint -> entry points, as cached; empty when the file is missing or not ours."""
    try:
        with open(cache_file, encoding="utf-8") as stream:
            document = json.loads(stream.read())
        if isinstance(document, dict) and document.get("version") == CACHE_VERSION:
            indexes = document.get("indexes")
            if isinstance(indexes, dict):
                return indexes
    except (OSError, ValueError):
        pass
    return {}


def _parse_entries(items: object) -> list[PluginEntryPoint] | None:
    """The cached entry points, or None when they are missing or not what we wrote."""
    if not isinstance(items, list):
        return None
    try:
        entries = []
        for item in items:
            hooks = item["hooks"]
            if hooks is not None and not all(isinstance(hook, str) for hook in hooks):
                return None
            commands = item.get("commands")  # absent from caches written before commands were kept
            if commands is not None and not all(_is_command(command) for command in commands):
                return None
            entries.append(
                PluginEntryPoint(
                    str(item["name"]),
                    str(item["value"]),
                    str(item["distribution"]),
                    str(item["version"]),
                    list(hooks) if hooks is not None else None,
                    list(commands) if commands is not None else None,
                )
            )
        return entries
    except (KeyError, TypeError, AttributeError):
        return None


def _is_command(item: object) -> bool:
    return isinstance(item, dict) and all(
        key in item and isinstance(item[key], kinds) for key, kinds in COMMAND_FIELDS.items()
    )
