"""Reading a response body into the stage outputs, or onto disk when it is too large.

Outputs are kept in the run's context and audit records, so a body above
`max_inline_bytes` (or a binary one) is written to a file and only its path is output.
"""

from __future__ import annotations

import json
import mimetypes
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import requests

CHUNK_BYTES = 64 * 1024

_TEXT_MARKERS = ("json", "text/", "xml", "javascript", "x-www-form-urlencoded", "csv", "yaml")


def media_type(content_type: str | None) -> str:
    """`application/json; charset=utf-8` -> `application/json`."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def is_json_type(content_type: str | None) -> bool:
    kind = media_type(content_type)
    return kind == "application/json" or kind.endswith("+json") or kind.endswith("/json")


def is_text_type(content_type: str | None) -> bool:
    kind = media_type(content_type)
    return not kind or any(marker in kind for marker in _TEXT_MARKERS)


def extension_for(content_type: str | None) -> str:
    """A file extension for a saved body, so people can open it."""
    if is_json_type(content_type):
        return ".json"
    guessed = mimetypes.guess_extension(media_type(content_type)) if content_type else None
    return guessed or (".txt" if is_text_type(content_type) else ".bin")


@dataclass
class CapturedBody:
    """A response body: in memory (`data`) or saved to `path`."""

    content_type: str
    size: int
    data: bytes | None = None
    path: Path | None = None

    def decoded(self) -> Any:
        """The inline body as JSON when it is JSON, else as text."""
        if self.data is None:
            return None
        if not self.data:
            return None
        looks_json = self.data.lstrip()[:1] in (b"{", b"[")
        if is_json_type(self.content_type) or (not self.content_type and looks_json):
            try:
                return json.loads(self.data)
            except ValueError:
                pass
        return self.data.decode("utf-8", errors="replace")

    def save_to(self, path: Path) -> None:
        """Move an inline body to `path` (used when a later page makes the total too large)."""
        if self.data is not None:
            path.write_bytes(self.data)
            self.data = None
            self.path = path


def capture_body(
    response: requests.Response, *, max_inline_bytes: int, spill_path: Callable[[str], Path]
) -> CapturedBody:
    """Read the body, keeping at most `max_inline_bytes` in memory.

    `spill_path(extension)` names the file for a body that is too large or binary. A partial
    file is removed if reading fails.
    """
    content_type = response.headers.get("Content-Type", "")
    binary = not is_text_type(content_type)
    chunks: list[bytes] = []
    size = 0
    path: Path | None = None
    handle = None
    try:
        for chunk in response.iter_content(CHUNK_BYTES):
            size += len(chunk)
            if handle is None and (binary or size > max_inline_bytes):
                path = spill_path(extension_for(content_type))
                handle = open(path, "wb")  # noqa: SIM115 - closed in finally
                handle.writelines(chunks)
                chunks = []
            if handle is not None:
                handle.write(chunk)
            else:
                chunks.append(chunk)
    except BaseException:
        if handle is not None:
            handle.close()
            handle = None
        if path is not None and path.exists():
            os.unlink(path)
        raise
    finally:
        if handle is not None:
            handle.close()
    if path is not None:
        return CapturedBody(content_type=content_type, size=size, path=path)
    return CapturedBody(content_type=content_type, size=size, data=b"".join(chunks))
