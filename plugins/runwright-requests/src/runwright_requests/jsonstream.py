"""Parsing a JSON body while it streams past, without holding it in memory.

The landing task writes each chunk to S3 as it arrives and, at the same time, feeds it to
ijson (C backend) to pull out the records and, for json-path pagination, the next page's
URL. Only records completed by the current chunk are held at any moment.
"""

from __future__ import annotations

from typing import Any

from .errors import LandingError
from .jsonpath import JsonPath

_WHITESPACE = b" \t\r\n\xef\xbb\xbf"


class JsonStreamTap:
    """Feed it chunks; get back the records each chunk completed, and the next-page value.

    Records are the elements of the list at `records_path`, or of a top-level list, or the
    whole document when it is a single object.
    """

    def __init__(self, *, records: bool, records_path: JsonPath | None, next_path: JsonPath | None):
        import ijson  # in each method that parses: listing the plugin's calls does not import it

        self._want_records = records
        self._records_prefix = (
            None
            if records_path is None
            else _join(records_path.ijson_prefix(argument="records_path"), "item")
        )
        self._records_out = ijson.sendable_list()
        self._records_coro: Any = None
        self._next_out = ijson.sendable_list()
        self._next_coro: Any = None
        if next_path is not None:
            prefix = next_path.ijson_prefix(argument="pagination.next-url-path")
            self._next_coro = ijson.items_coro(self._next_out, prefix, use_float=True)
        self._pending = b""  # bytes seen before the first significant one
        self.next_value: Any = None

    def feed(self, chunk: bytes) -> list[Any]:
        """Parse `chunk`; return the records it completed (raises LandingError if invalid)."""
        if self._want_records and self._records_coro is None:
            self._pending += chunk
            stripped = self._pending.lstrip(_WHITESPACE)
            if not stripped:
                return []
            self._start_records(stripped[:1])
            chunk, self._pending = self._pending, b""
        self._send(chunk)
        return self._drain()

    def close(self) -> list[Any]:
        """Finish parsing; return the last records (raises LandingError on a truncated body)."""
        if self._want_records and self._records_coro is None and self._pending.strip(_WHITESPACE):
            self._start_records(self._pending.lstrip(_WHITESPACE)[:1])
            self._send(self._pending)
        import ijson

        try:
            for coro in (self._records_coro, self._next_coro):
                if coro is not None:
                    coro.close()
        except ijson.JSONError as exc:
            raise LandingError(f"the response body is not valid JSON: {_first_line(exc)}") from None
        return self._drain()

    def _start_records(self, first: bytes) -> None:
        import ijson

        prefix = self._records_prefix
        if prefix is None:
            prefix = "item" if first == b"[" else ""
        self._records_coro = ijson.items_coro(self._records_out, prefix, use_float=True)

    def _send(self, chunk: bytes) -> None:
        import ijson

        try:
            for coro in (self._records_coro, self._next_coro):
                if coro is not None:
                    coro.send(chunk)
        except ijson.JSONError as exc:
            raise LandingError(f"the response body is not valid JSON: {_first_line(exc)}") from None

    def _drain(self) -> list[Any]:
        if self._next_out:
            if self.next_value is None:
                self.next_value = self._next_out[0]
            del self._next_out[:]
        records = list(self._records_out)
        del self._records_out[:]
        return records


def _join(prefix: str, leaf: str) -> str:
    return f"{prefix}.{leaf}" if prefix else leaf


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
