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
    conf_files,
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
        return {
            "stat": self.stat,
            "sha256": self.sha256,
            "checked_ns": self.checked_ns,
            "error": self.error,
            "templates": [[t.name, t.line, t.kind, t.is_mapping, t.on_release] for t in self.templates],
        }

    @classmethod
    def from_json(cls, data: Any) -> FileEntry:
        """An entry read back; anything malformed raises (the file is then parsed again)."""
        stat, sha, checked, error = data["stat"], data["sha256"], data["checked_ns"], data["error"]
        if not (isinstance(stat, list) and len(stat) == 4 and all(type(n) is int for n in stat)):
            raise ValueError("stat")
        if not (isinstance(sha, str) and type(checked) is int and (error is None or isinstance(error, str))):
            raise ValueError("fields")
        templates = []
        for name, line, kind, is_mapping, on_release in data["templates"]:
            if not (isinstance(name, str) and type(line) is int and (kind is None or isinstance(kind, str))):
                raise ValueError("template")
            templates.append(IndexedTemplate(name, line, kind, bool(is_mapping), bool(on_release)))
        return cls(stat, sha, checked, templates, error)


def file_stat(result: os.stat_result) -> list[int]:
    """What says a file may have changed: content time, inode time (chmod, rename), size, inode."""
    return [result.st_mtime_ns, result.st_ctime_ns, result.st_size, result.st_ino]


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
    templates = []
    for name, raw, line in templates_in(mapping, template_lines(text) if mapping else {}):
        is_mapping = isinstance(raw, Mapping)
        kind = raw.get("type") if is_mapping else None
        kind = kind if isinstance(kind, str) else None
        on = raw.get("on") if is_mapping else None
        on_release = kind == "Workflow" and isinstance(on, Mapping) and bool(on.get("release"))
        templates.append(IndexedTemplate(name, line, kind, is_mapping, on_release))
    return FileEntry(stat, sha, now, templates)


class ConfIndex:
    """The templates of one conf folder as the index sees them, after a refresh."""

    def __init__(self, conf_path: Path, limits: Limits | None = None) -> None:
        self.conf_path = conf_path
        self.limits = limits or Limits.from_env()
        self.index_file = state.index_file(conf_path)
        self.entries: dict[str, FileEntry] = {}
        self.files: dict[str, Path] = {}
        self.wrote = False

    # -- the index file ----------------------------------------------------------------

    def header(self) -> dict[str, Any]:
        limits = self.limits
        return {
            "version": INDEX_VERSION,
            "conf": os.path.abspath(self.conf_path),
            "parser": YAML_LOADER.__name__,
            "limits": [limits.max_template_bytes, limits.max_yaml_depth, limits.max_yaml_nodes],
        }

    def read_stored(self) -> dict[str, FileEntry]:
        """The entries on disk; an index missing, corrupt or written for other rules is empty."""
        try:
            document = json.loads(self.index_file.read_bytes())
            if not isinstance(document, dict) or document.get("header") != self.header():
                return {}
            files = document["files"]
            if not isinstance(files, dict):
                return {}
        except (OSError, ValueError, KeyError, TypeError):
            return {}
        entries = {}
        for key, data in files.items():
            try:
                entries[key] = FileEntry.from_json(data)
            except (KeyError, TypeError, ValueError):
                continue  # that file is parsed again
        return entries

    def write(self) -> None:
        """Replace the index atomically; a state folder that cannot be written is no error."""
        document = {"header": self.header(), "files": {k: e.to_json() for k, e in self.entries.items()}}
        temp = None
        try:
            self.index_file.parent.mkdir(parents=True, exist_ok=True)
            handle, temp = tempfile.mkstemp(prefix=".index-", suffix=".tmp", dir=self.index_file.parent)
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(document, out, separators=(",", ":"))
            os.replace(temp, self.index_file)
            temp = None
            self.wrote = True
        except OSError as exc:
            log.debug("template index not written to %s: %s", self.index_file, exc)
        finally:
            if temp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(temp)

    # -- refreshing ----------------------------------------------------------------------

    def refresh(self, suspect: str | None = None) -> ConfIndex:
        """Stat every file; index again the new, changed and recently written ones (and
        ``suspect``, a file whose bytes did not match); drop the deleted ones."""
        stored = self.read_stored()
        entries: dict[str, FileEntry] = {}
        files: dict[str, Path] = {}
        changed = False
        for file in conf_files(self.conf_path):
            key = file.relative_to(self.conf_path).as_posix()
            files[key] = file
            previous = stored.get(key)
            try:
                stat = file_stat(file.stat())
            except OSError as exc:
                entries[key] = FileEntry([0, 0, 0, 0], "", 0, error=f": cannot read: {exc}")
                changed = True
                continue
            settled = previous is not None and stat[0] < previous.checked_ns - RACY_WINDOW_NS
            if previous is not None and previous.stat == stat and settled and key != suspect:
                entries[key] = previous
                continue
            entries[key] = index_entry(file, stat, self.limits, previous)
            changed = changed or entries[key] != previous
        self.entries, self.files = entries, files
        if changed or set(entries) != set(stored):
            self.write()
        return self

    # -- what discover() would say ---------------------------------------------------------

    def located(self) -> tuple[dict[str, tuple[str, IndexedTemplate]], list[BrokenConf]]:
        """Each valid name -> (file key, template), and the broken files and templates, in the
        order and words of :func:`runwright.loader.discover`."""
        found: dict[str, tuple[str, IndexedTemplate]] = {}
        broken: list[BrokenConf] = []
        for key, entry in self.entries.items():
            file = self.files[key]
            if entry.error is not None:
                message = f"{file}{entry.error}"
                broken.append(BrokenConf(file, message, line=_error_line(message)))
                continue
            for template in entry.templates:
                name = template.name
                problem = None
                if not template.is_mapping:
                    problem = f"{file}: template '{name}' must be a mapping"
                elif name in found:
                    first_key, first = found[name]
                    problem = (
                        f"template '{name}' is defined twice: in {self.files[first_key]} "
                        f"(line {first.line}) and in {file} (line {template.line})"
                    )
                if problem is not None:
                    broken.append(BrokenConf(file, problem, template=name, line=template.line))
                    continue
                found[name] = (key, template)
        return found, broken

    def source(self, key: str, name: str) -> TemplateSource | None:
        """The template parsed from its file; None when the file's bytes are not those indexed."""
        file = self.files[key]
        data = read_bytes(file, self.limits)
        if hashlib.sha256(data).hexdigest() != self.entries[key].sha256:
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
        found, broken = index.located()
        if name not in found:
            return Lookup(None, list(found), broken)
        key, _ = found[name]
        source = index.source(key, name)
        if source is not None:
            return Lookup(source, list(found), broken)
        if attempt == 0:
            index = ConfIndex(conf_path).refresh(suspect=key)  # written since: index it again
    broken = []
    sources = discover(conf_path, broken)  # the file keeps changing under us: read them all
    return Lookup(sources.get(name), list(sources), broken)


def sources_where(conf_path: Path, wanted: Any) -> dict[str, TemplateSource]:
    """The valid templates for which ``wanted(IndexedTemplate)`` is true, reading only their
    files (``run`` looks for ``on: release`` followers this way)."""
    index = ConfIndex(conf_path).refresh()
    found, _ = index.located()
    sources: dict[str, TemplateSource] = {}
    for name, (key, template) in found.items():
        if not wanted(template):
            continue
        try:
            source = index.source(key, name)
        except ConfError:
            source = None
        if source is None:  # the folder changed meanwhile: read it all
            from runwright.loader import discover

            every = discover(conf_path, [])
            return {n: s for n, s in every.items() if n in found and wanted(found[n][1])}
        sources[name] = source
    return sources
