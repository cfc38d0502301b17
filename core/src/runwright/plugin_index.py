"""The ``runwright`` entry points, found once per installation and cached on disk.

``importlib.metadata`` reads the metadata of every distribution in the environment to find one
group's entry points (~60 ms in a venv of a few hundred packages), on every start of the CLI. The
answer only changes when something is installed or removed, so it is cached in the user's cache
folder (``$XDG_CACHE_HOME/runwright`` or ``~/.cache/runwright``) keyed by a fingerprint of the
``sys.path`` folders: their modification times and the names and times of the ``*.dist-info`` /
``*.egg-info`` folders in them. The cache also remembers which hooks each plugin implements (learned
when it is first loaded), so a command needing one hook (``--help`` needs ``register_cli_commands``)
imports only the plugins that implement it. A missing, corrupt or stale cache is rebuilt; a cache
folder that cannot be written is ignored.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

ENTRY_POINT_GROUP = "runwright"
CACHE_VERSION = 1
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


def cache_folder() -> Path:
    """``$XDG_CACHE_HOME/runwright``, else ``~/.cache/runwright``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "runwright"


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
            parts.append((entry, os.stat(folder).st_mtime_ns, sorted(listing)))
        except OSError:  # not a folder (a zip, a missing entry): importlib.metadata skips it too
            parts.append((entry, None))
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def _mtime(folder: str, name: str) -> int | None:
    try:
        return os.stat(os.path.join(folder, name)).st_mtime_ns
    except OSError:
        return None


class PluginIndex:
    """The entry points of this environment, from the cache when it is current."""

    def __init__(self, entry_points: list[PluginEntryPoint], fingerprint: str, cache_file: Path) -> None:
        self.entry_points = entry_points
        self.fingerprint = fingerprint
        self.cache_file = cache_file
        self._saved = self._document()

    @classmethod
    def load(cls) -> PluginIndex:
        """Read the cache if it matches the installed distributions, else scan them and save it."""
        fingerprint = installed_fingerprint()
        # one file per interpreter and path: a console script and ``python -c`` see different paths
        key = hashlib.sha256(json.dumps([sys.executable, sys.path]).encode()).hexdigest()[:16]
        cache_file = cache_folder() / f"entry-points-v{CACHE_VERSION}-{key}.json"
        cached = _read_cache(cache_file, fingerprint)
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

    def save(self) -> None:
        """Write the cache if it changed; an unwritable cache folder only costs the next scan."""
        document = self._document()
        if document == self._saved:
            return
        try:
            self.cache_file.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.cache_file.with_name(f"{self.cache_file.name}.{os.getpid()}.tmp")
            temporary.write_text(json.dumps(document), encoding="utf-8")
            os.replace(temporary, self.cache_file)
            self._saved = document
        except OSError:
            pass

    def _document(self) -> dict[str, object]:
        return {
            "version": CACHE_VERSION,
            "fingerprint": self.fingerprint,
            "entry_points": [asdict(entry) for entry in self.entry_points],
        }


def scan_entry_points() -> list[PluginEntryPoint]:
    """Every ``runwright`` entry point, in the order ``importlib.metadata`` finds them (pluggy's)."""
    import importlib.metadata

    found = []
    for dist in importlib.metadata.distributions():
        for ep in dist.entry_points:
            if ep.group == ENTRY_POINT_GROUP:
                found.append(PluginEntryPoint(ep.name, ep.value, dist.metadata["Name"], dist.version))
    return found


def _read_cache(cache_file: Path, fingerprint: str) -> list[PluginEntryPoint] | None:
    """The cached entry points, or None when the file is missing, stale or not what we wrote."""
    try:
        document = json.loads(cache_file.read_text(encoding="utf-8"))
        if document["version"] != CACHE_VERSION or document["fingerprint"] != fingerprint:
            return None
        entries = []
        for item in document["entry_points"]:
            hooks = item["hooks"]
            if hooks is not None and not all(isinstance(hook, str) for hook in hooks):
                return None
            entries.append(
                PluginEntryPoint(
                    str(item["name"]), str(item["value"]), str(item["distribution"]), str(item["version"]),
                    list(hooks) if hooks is not None else None,
                )
            )
        return entries
    except (OSError, ValueError, KeyError, TypeError):
        return None
