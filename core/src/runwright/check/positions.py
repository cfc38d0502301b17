"""Where a path inside a template sits in its YAML file (line and column, from 1).

The file is composed into YAML nodes only when a problem in it must be located, so a clean
conf path is parsed once.
"""

from __future__ import annotations

import functools
import re
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from runwright.loader import YAML_LOADER

Path_ = tuple[Any, ...]


class FilePositions:
    """Line/column of every mapping key and value of one file, by path of keys and indexes."""

    def __init__(self, file: Path) -> None:
        self.file = file

    @cached_property
    def text(self) -> str:
        try:
            return self.file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return ""

    @cached_property
    def _index(self) -> tuple[dict[Path_, yaml.Node], dict[Path_, yaml.Node]]:
        values: dict[Path_, yaml.Node] = {}
        keys: dict[Path_, yaml.Node] = {}
        try:
            root = yaml.compose(self.text, Loader=YAML_LOADER)  # noqa: S506 - safe subclass
        except yaml.YAMLError:
            return values, keys

        def walk(node: yaml.Node, path: Path_) -> None:
            values[path] = node
            if isinstance(node, yaml.MappingNode):
                for key_node, value_node in node.value:
                    child = (*path, str(key_node.value))
                    keys[child] = key_node
                    walk(value_node, child)
            elif isinstance(node, yaml.SequenceNode):
                for index, item in enumerate(node.value):
                    walk(item, (*path, index))

        if root is not None:
            walk(root, ())
        return values, keys

    def node(self, path: Path_) -> yaml.Node | None:
        values, _ = self._index
        path = tuple(p if isinstance(p, int) else str(p) for p in path)
        while path and path not in values:
            path = path[:-1]
        return values.get(path)

    def find(self, under: Path_, text: str) -> tuple[int, int] | None:
        """Line/column of the first ``${{`` holding ``text`` in a value under ``under``."""
        values, _ = self._index
        under = tuple(str(p) if not isinstance(p, int) else p for p in under)
        pattern = re.compile(r"\$\{\{\s*" + re.escape(text) + r"\s*\}\}")
        for path, node in values.items():
            if path[: len(under)] != under or not isinstance(node, yaml.ScalarNode):
                continue
            match = pattern.search(self.text, node.start_mark.index, node.end_mark.index)
            if match:
                line = self.text.count("\n", 0, match.start())
                col = match.start() - (self.text.rfind("\n", 0, match.start()) + 1)
                return line + 1, col + 1
        return None

    def locate(
        self, path: Path_, key: bool = False, needle: str | None = None, nth: int = 0
    ) -> tuple[int, int]:
        """The position of ``path``'s value (or its key with ``key=True``).

        ``needle`` (``${{``, ``${VAR}``) moves the position to its ``nth`` occurrence inside the
        value, so an expression in a long script is pointed at exactly.
        """
        values, keys = self._index
        clean = tuple(p if isinstance(p, int) else str(p) for p in path)
        if key and clean in keys:
            mark = keys[clean].start_mark
            return mark.line + 1, mark.column + 1
        node = self.node(clean)
        if node is None:
            return 1, 1
        start = node.start_mark
        if needle and isinstance(node, yaml.ScalarNode):
            index = start.index
            for _ in range(nth + 1):
                found = self.text.find(needle, index, node.end_mark.index)
                if found < 0:
                    break
                index = found + 1
            else:
                offset = index - 1
                line = self.text.count("\n", 0, offset)
                col = offset - (self.text.rfind("\n", 0, offset) + 1)
                return line + 1, col + 1
        return start.line + 1, start.column + 1


@functools.lru_cache(maxsize=64)
def _positions(file: Path, mtime_ns: int) -> FilePositions:
    return FilePositions(file)


def positions_of(file: Path) -> FilePositions:
    """The positions of one file, kept while it is unchanged (run-time errors look them up)."""
    try:
        mtime = file.stat().st_mtime_ns
    except OSError:
        mtime = 0
    return _positions(Path(file), mtime)
