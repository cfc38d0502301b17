"""An on-disk index of a conf folder, so looking one template up reads one file.

The index (``<state>/index/<conf>-<hash>.json``, see :mod:`runwright.state`) maps each YAML file
of the folder to its stat (mtime, ctime, size, inode), the SHA-256 of its bytes and what parsing
it found: its templates (name, line, type) or the error that stopped it. Each use stats every
file and parses only the new or changed ones; deleted files drop out. Duplicate names and broken
files are worked out from the index exactly as :func:`runwright.loader.discover` reports them.

The index is a hint, never the truth: a file missing, unreadable, of another version or for
other limits is rebuilt silently; a template is always parsed from its file, whose bytes must
hash to what the index says (else that file is indexed again); a file written within
``RACY_WINDOW_NS`` of being indexed is hashed again next time (a same-size rewrite in the same
clock tick keeps its mtime). Writers replace the file atomically (temp file + ``os.replace``),
so concurrent processes each leave a whole index.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runwright import state
from runwright.config import Limits
from runwright.errors import ConfError
from runwright.loader import (
    YAML_LOADER,
    BrokenConf,
    TemplateSource,
    _error_line,
    decode_text,
    read_bytes,
    template_lines,
    templates_in,
    yaml_mapping,
)

log = logging.getLogger(__name__)

INDEX_VERSION = 1
RACY_WINDOW_NS = 3_000_000_000


@dataclass(frozen=True)
class IndexedTemplate:
    name: str
    line: int
    kind: str | None  # the template's ``type:`` (None when missing or not a string)
    is_mapping: bool
    on_release: bool  # a Workflow with ``on: release`` (read by ``run`` to find followers)


@dataclass
class FileEntry:
    """What the index knows of one file; ``error`` is the message after the file's name."""

    stat: list[int]
    sha256: str
    checked_ns: int
    templates: list[IndexedTemplate] = field(default_factory=list)
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"stat": self.stat, "sha256": self.sha256, "checked_ns": self.checked_ns, "error": self.error}

    def templates_json(self) -> list[list[Any]]:
        return [[t.name, t.line, t.kind, t.is_mapping, t.on_release] for t in self.templates]

    @classmethod
    def from_json(cls, data: Any, listed: Any) -> FileEntry:
        """An entry read back; anything malformed raises (the file is then parsed again)."""
        stat, sha, checked, error = data["stat"], data["sha256"], data["checked_ns"], data["error"]
        if not (isinstance(stat, list) and len(stat) == 4 and all(type(n) is int for n in stat)):
            raise ValueError("stat")
        if not (isinstance(sha, str) and type(checked) is int and (error is None or isinstance(error, str))):
            raise ValueError("fields")
        templates = []
        for name, line, kind, is_mapping, on_release in listed:
            if not (isinstance(name, str) and type(line) is int and (kind is None or isinstance(kind, str))):
                raise ValueError("template")
            templates.append(IndexedTemplate(name, line, kind, bool(is_mapping), bool(on_release)))
        return cls(stat, sha, checked, templates, error)


def file_stat(result: os.stat_result) -> list[int]:
    """What says a file may have changed: content time, inode time (chmod, rename), size, inode."""
    return [result.st_mtime_ns, result.st_ctime_ns, result.st_size, result.st_ino]


def unreadable(error: OSError) -> FileEntry:
    """The entry of a file that cannot be stat'ed: indexed again next time."""
    return FileEntry([0, 0, 0, 0], "", 0, error=f": cannot read: {error}")


def index_entry(file: Path, stat: list[int], limits: Limits, previous: FileEntry | None) -> FileEntry:
    """Hash the file; parse it only when its bytes differ from what the index holds."""
    now = time.time_ns()
    try:
        data = read_bytes(file, limits)
    except ConfError as exc:
        return FileEntry(stat, "", now, error=str(exc).removeprefix(str(file)))
    sha = hashlib.sha256(data).hexdigest()
    if previous is not None and previous.sha256 == sha:
        return FileEntry(stat, sha, now, previous.templates, previous.error)
    try:
        text = decode_text(file, data, limits)
        mapping = yaml_mapping(file, text, limits)
    except ConfError as exc:
        return FileEntry(stat, sha, now, error=str(exc).removeprefix(str(file)))
    from runwright.models.events import has_release_trigger

    templates = []
    for name, raw, line in templates_in(mapping, template_lines(text) if mapping else {}):
        is_mapping = isinstance(raw, Mapping)
        kind = raw.get("type") if is_mapping else None
        kind = kind if isinstance(kind, str) else None
        on_release = kind == "Workflow" and has_release_trigger(raw)
        templates.append(IndexedTemplate(name, line, kind, is_mapping, on_release))
    return FileEntry(stat, sha, now, templates)


def scan_conf_folder(conf_path: Path) -> list[tuple[str, os.DirEntry[str]]]:
    """Every ``*.yml``/``*.yaml`` file under ``conf_path`` as (relative POSIX path, entry), in
    :func:`runwright.loader.conf_files` order (symlinked folders are not entered, as there)."""
    found: list[tuple[tuple[str, ...], str, os.DirEntry[str]]] = []
    pending: list[tuple[str, tuple[str, ...]]] = [(os.fspath(conf_path), ())]
    while pending:
        folder, parts = pending.pop()
        try:
            with os.scandir(folder) as entries:
                listed = list(entries)
        except OSError:
            continue
        for entry in listed:
            try:
                if entry.is_dir() and not entry.is_symlink():
                    pending.append((entry.path, (*parts, entry.name)))
                    continue
                if os.path.splitext(entry.name)[1] in (".yml", ".yaml") and entry.is_file():
                    found.append(((*parts, entry.name), "/".join((*parts, entry.name)), entry))
            except OSError:
                continue
    found.sort(key=lambda item: item[0])
    return [(key, entry) for _, key, entry in found]


class ConfIndex:
    """The templates of one conf folder as the index sees them, after a refresh.

    ``found`` maps each valid name to ``[file number in keys, line, on_release]``; ``problems`` are the
    broken files and templates as JSON-able lists (see :meth:`broken`). Both are stored in the
    index too, so an unchanged folder costs a ``stat`` per file and no per-template work.
    """

    def __init__(self, conf_path: Path, limits: Limits | None = None) -> None:
        self.conf_path = conf_path
        self.limits = limits or Limits.from_env()
        self.index_file = state.index_file(conf_path)
        self.raw_entries: dict[str, Any] = {}
        self.found: dict[str, Any] = {}  # name -> the number of its file in keys
        self.followers: list[str] = []  # Workflow templates with ``on: release``
        self.problems: list[Any] = []
        self.keys: list[str] = []
        self.generation = ""
        self.detail: dict[str, Any] | None = None
        self.wrote = False

    def file(self, key: str) -> Path:
        return self.conf_path / key

    @property
    def detail_file(self) -> Path:
        """The templates of each file: read only when something changed."""
        return self.index_file.with_suffix(".templates.json")

    def entry(self, key: str) -> FileEntry:
        data = self.raw_entries[key]
        return data if isinstance(data, FileEntry) else self.stored_entry(data, key)

    def read_detail(self) -> dict[str, Any]:
        """The stored templates of each file, when written with the index read (else empty)."""
        try:
            document = json.loads(self.detail_file.read_bytes())
            if document["generation"] == self.generation and isinstance(document["templates"], dict):
                return document["templates"]
        except (OSError, ValueError, KeyError, TypeError):
            pass
        return {}

    # -- the index file ----------------------------------------------------------------

    def header(self) -> dict[str, Any]:
        limits = self.limits
        return {
            "version": INDEX_VERSION,
            "conf": os.path.abspath(self.conf_path),
            "parser": YAML_LOADER.__name__,
            "limits": [limits.max_template_bytes, limits.max_yaml_depth, limits.max_yaml_nodes],
        }

    def read_stored(self) -> tuple[dict[str, Any], Any]:
        """The file entries (as stored) and catalog on disk; an index missing, corrupt or
        written for other rules reads as empty."""
        try:
            document = json.loads(self.index_file.read_bytes())
            if not isinstance(document, dict) or document.get("header") != self.header():
                return {}, None
            files = document["files"]
            if not isinstance(files, dict):
                return {}, None
            self.generation = str(document["generation"])
            return files, document.get("catalog")
        except (OSError, ValueError, KeyError, TypeError):
            return {}, None

    def write(self) -> None:
        """Replace the index atomically; a state folder that cannot be written is no error."""
        entries = {k: self.entry(k) for k in self.raw_entries}
        generation = os.urandom(8).hex()
        detail = {"generation": generation, "templates": {k: e.templates_json() for k, e in entries.items()}}
        catalog = {
            "keys": self.keys,
            "found": self.found,
            "followers": self.followers,
            "problems": self.problems,
        }
        files = {k: e.to_json() for k, e in entries.items()}
        document = {"header": self.header(), "generation": generation, "files": files, "catalog": catalog}
        try:
            self.index_file.parent.mkdir(parents=True, exist_ok=True)
            replace_with(self.detail_file, detail)  # first: an index always names its detail
            replace_with(self.index_file, document)
            self.wrote = True
        except OSError as exc:
            log.debug("template index not written to %s: %s", self.index_file, exc)

    # -- refreshing ----------------------------------------------------------------------

    def refresh(self, suspect: str | None = None, rebuild: bool = False) -> ConfIndex:
        """Stat every file; index again the new, changed and recently written ones (and
        ``suspect``, a file whose bytes did not match); drop the deleted ones. ``rebuild``
        ignores what is stored."""
        stored, catalog = ({}, None) if rebuild else self.read_stored()
        entries: dict[str, Any] = {}
        changed = False
        for key, dir_entry in scan_conf_folder(self.conf_path):
            previous_data = stored.get(key)
            try:
                stat = file_stat(dir_entry.stat())
            except OSError as exc:
                entries[key] = unreadable(exc)
                changed = True
                continue
            if key != suspect and isinstance(previous_data, dict) and previous_data.get("stat") == stat:
                checked = previous_data.get("checked_ns")
                if type(checked) is int and stat[0] < checked - RACY_WINDOW_NS:  # settled: trusted
                    entries[key] = previous_data
                    continue
            try:
                previous = self.stored_entry(previous_data, key) if previous_data is not None else None
            except (KeyError, TypeError, ValueError):
                previous = None
            entries[key] = index_entry(self.file(key), stat, self.limits, previous)
            changed = True
        self.raw_entries = entries
        if changed or set(entries) != set(stored) or not self.use_catalog(catalog):
            self.catalog_from_entries()
            self.write()
        return self

    def stored_entry(self, data: Any, key: str) -> FileEntry:
        if self.detail is None:
            self.detail = self.read_detail()
        return FileEntry.from_json(data, self.detail[key])

    def use_catalog(self, catalog: Any) -> bool:
        """Take the stored catalog when it is well formed and names only known files."""
        try:
            found, problems, keys = catalog["found"], catalog["problems"], catalog["keys"]
            followers = catalog["followers"]
            if not (isinstance(found, dict) and isinstance(problems, list) and isinstance(followers, list)):
                return False
            if keys != list(self.raw_entries):
                return False
            self.found, self.problems, self.keys, self.followers = found, problems, keys, followers
            self.broken()  # checks every problem's shape
            return True
        except (KeyError, TypeError, ValueError, IndexError):
            return False

    def catalog_from_entries(self) -> None:
        """Each valid name and each problem, in the order and words of
        :func:`runwright.loader.discover`."""
        found: dict[str, Any] = {}
        lines: dict[str, int] = {}
        followers: list[str] = []
        problems: list[Any] = []
        keys = list(self.raw_entries)
        for number, key in enumerate(keys):
            try:
                entry = self.entry(key)
            except (KeyError, TypeError, ValueError):  # a malformed stored entry: index the file again
                try:
                    entry = index_entry(self.file(key), file_stat(self.file(key).stat()), self.limits, None)
                except OSError as exc:
                    entry = unreadable(exc)
            self.raw_entries[key] = entry
            if entry.error is not None:
                problems.append(["file", key, entry.error])
                continue
            for template in entry.templates:
                name = template.name
                if not template.is_mapping:
                    problems.append(["mapping", key, name, template.line])
                elif name in found:
                    first_key, first_line = keys[found[name]], lines[name]
                    problems.append(["twice", key, name, template.line, first_key, first_line])
                else:
                    found[name], lines[name] = number, template.line
                    if template.on_release:
                        followers.append(name)
        self.found, self.problems, self.keys, self.followers = found, problems, keys, followers

    def broken(self) -> list[BrokenConf]:
        """The problems as :func:`runwright.loader.discover` reports them."""
        broken = []
        for problem in self.problems:
            kind, key = problem[0], problem[1]
            if key not in self.raw_entries:
                raise ValueError("unknown file")
            file = self.file(key)
            if kind == "file":
                message = f"{file}{problem[2]}"
                broken.append(BrokenConf(file, message, line=_error_line(message)))
            elif kind == "mapping":
                name, line = str(problem[2]), int(problem[3])
                broken.append(BrokenConf(file, f"{file}: template '{name}' must be a mapping", name, line))
            elif kind == "twice":
                name, line, first, first_line = str(problem[2]), int(problem[3]), problem[4], int(problem[5])
                message = (
                    f"template '{name}' is defined twice: in {self.file(first)} "
                    f"(line {first_line}) and in {file} (line {line})"
                )
                broken.append(BrokenConf(file, message, template=name, line=line))
            else:
                raise ValueError(f"unknown problem {kind!r}")
        return broken

    def location(self, name: str) -> str | None:
        """The file key holding ``name`` (None when it is not a valid template)."""
        number = self.found.get(name)
        if type(number) is not int or not 0 <= number < len(self.keys):
            return None
        key = self.keys[number]
        return key if key in self.raw_entries else None

    def source(self, key: str, name: str) -> TemplateSource | None:
        """The template parsed from its file; None when the file's bytes are not those indexed."""
        file = self.file(key)
        data = self.raw_entries[key]
        expected = data.sha256 if isinstance(data, FileEntry) else data.get("sha256")
        data = read_bytes(file, self.limits)
        if hashlib.sha256(data).hexdigest() != expected:
            return None
        text = decode_text(file, data, self.limits)
        mapping = yaml_mapping(file, text, self.limits)
        for found, raw, line in templates_in(mapping, template_lines(text)):
            if found == name and isinstance(raw, Mapping):
                return TemplateSource(name=name, file=file, raw=raw, line=line, root=self.conf_path)
        return None


@dataclass
class Lookup:
    """One name looked up: its source (None when unknown), every valid name, what is broken."""

    source: TemplateSource | None
    names: list[str]
    broken: list[BrokenConf]


def lookup(conf_path: Path, name: str) -> Lookup:
    """Find ``name`` in a conf folder reading only its file (plus files changed since the index
    was written). Falls back to reading every file when the index and the files disagree."""
    from runwright.loader import discover

    index = ConfIndex(conf_path).refresh()
    for attempt in range(2):
        key = index.location(name)
        if key is None:  # an error path: make sure from the files themselves
            broken: list[BrokenConf] = []
            sources = discover(conf_path, broken)
            if name in sources:  # the index was wrong (edited by hand?): write it again
                ConfIndex(conf_path).refresh(rebuild=True)
            return Lookup(sources.get(name), list(sources), broken)
        source = index.source(key, name)
        if source is not None:
            return Lookup(source, list(index.found), index.broken())
        if attempt == 0:
            index = ConfIndex(conf_path).refresh(suspect=key)  # written since: index it again
    broken = []
    sources = discover(conf_path, broken)  # the file keeps changing under us: read them all
    return Lookup(sources.get(name), list(sources), broken)


def release_followers(conf_path: Path) -> dict[str, TemplateSource]:
    """The valid Workflow templates with ``on: release``, reading only their files."""
    index = ConfIndex(conf_path).refresh()
    sources: dict[str, TemplateSource] = {}
    for name in index.followers:
        key = index.location(str(name))
        try:
            source = index.source(key, str(name)) if key is not None else None
        except ConfError:
            source = None
        if source is None:  # the folder changed meanwhile: read it all
            from runwright.loader import discover
            from runwright.models.events import has_release_trigger

            every = discover(conf_path, [])
            return {
                n: s
                for n, s in every.items()
                if s.raw.get("type") == "Workflow" and has_release_trigger(s.raw)
            }
        sources[source.name] = source
    return sources


def replace_with(path: Path, document: Any) -> None:
    """Write JSON to a temp file beside ``path``, then rename it over ``path`` (atomic)."""
    handle, temp = tempfile.mkstemp(prefix=".index-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(document, out, separators=(",", ":"))
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
