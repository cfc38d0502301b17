"""Landing API responses in S3, page by page, without holding a page in memory.

Each page is streamed from the HTTP response into its own S3 object (`raw`: the bytes as
received; `flatten`: one flattened JSON record a line). If any page fails, the objects this
call already wrote are deleted and the open multipart upload is aborted, so a failed landing
leaves nothing half-written behind.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from .body import CHUNK_BYTES, extension_for, is_json_type, media_type
from .errors import LandingError
from .flatten import json_line
from .http import HttpClient
from .jsonpath import JsonPath
from .jsonstream import JsonStreamTap
from .pagination import PaginationSpec, link_header_next, resolve_next
from .redaction import Redactor, Tracer
from .s3 import S3Location, S3ObjectWriter, delete_keys

if TYPE_CHECKING:
    import requests

WritingMode = Literal["flatten", "raw"]


@dataclass
class PageLanded:
    """What one page put in S3, and where the next page is."""

    key: str
    records: int | None
    bytes_written: int
    bytes_received: int
    next_url: str | None


@dataclass
class LandingResult:
    bucket: str
    keys: list[str] = field(default_factory=list)
    records: int | None = 0
    bytes_written: int = 0
    bytes_received: int = 0
    pages: int = 0
    has_more: bool = False


@dataclass(frozen=True)
class Request:
    """The first request of a landing; later pages follow the pagination's next URL."""

    method: str
    url: str
    params: dict[str, Any] | None = None
    headers: dict[str, str] | None = None
    json: Any = None
    data: Any = None


class Lander:
    """Fetch every page of an API and write each one to `location/page-NNNNN.<ext>`."""

    def __init__(
        self,
        *,
        http: HttpClient,
        s3: Any,
        location: S3Location,
        writing_mode: WritingMode,
        records_path: JsonPath | None,
        pagination: PaginationSpec,
        redactor: Redactor,
        trace: Tracer,
    ) -> None:
        self._http = http
        self._s3 = s3
        self._location = location
        self._mode = writing_mode
        self._records_path = records_path
        self._pagination = pagination
        self._next_path = pagination.next_path()
        self._redactor = redactor
        self._trace = trace

    def run(self, first: Request) -> LandingResult:
        """Land all pages (up to max-pages); on failure delete what was written, then raise."""
        result = LandingResult(bucket=self._location.bucket)
        seen: set[str] = set()
        url: str | None = first.url
        try:
            while url is not None:
                if result.pages >= self._pagination.max_pages:
                    result.has_more = True
                    self._trace(
                        f"pagination: stopped at max-pages {self._pagination.max_pages}; more pages remain"
                    )
                    break
                seen.add(url)
                number = result.pages + 1
                repeat = number == 1 or self._pagination.repeat_request
                page = self._http.fetch(
                    first.method if repeat else "GET",
                    url,
                    lambda response, n=number: self._land_page(response, n),
                    params=first.params if number == 1 else None,
                    headers=first.headers,
                    json=first.json if repeat else None,
                    data=first.data if repeat else None,
                )
                result.pages = number
                result.keys.append(page.key)
                result.bytes_written += page.bytes_written
                result.bytes_received += page.bytes_received
                if result.records is not None and page.records is not None:
                    result.records += page.records
                else:
                    result.records = None
                self._trace(
                    f"landed page {number} to s3://{self._location.bucket}/{page.key} "
                    f"({page.bytes_written} bytes"
                    + (f", {page.records} records)" if page.records is not None else ")")
                )
                url = page.next_url
                if url is not None and url in seen:
                    self._trace(f"pagination: next URL {url} was already fetched; stopping")
                    url = None
        except BaseException:
            if result.keys:
                delete_keys(
                    self._s3,
                    self._location.bucket,
                    result.keys,
                    redactor=self._redactor,
                    trace=self._trace,
                )
                self._trace(f"landing failed: deleted the {len(result.keys)} object(s) it wrote")
            raise
        return result

    def _land_page(self, response: requests.Response, number: int) -> PageLanded:
        content_type = response.headers.get("Content-Type", "")
        if self._mode == "flatten":
            extension, object_type = ".jsonl", "application/x-ndjson"
        else:
            extension = extension_for(content_type)
            object_type = media_type(content_type) or "application/octet-stream"
        location = self._location.child(f"page-{number:05d}{extension}")
        # raw mode counts records only when the body says it is JSON; flatten always parses.
        wants_records = self._mode == "flatten" or is_json_type(content_type)
        tap: JsonStreamTap | None = None
        if wants_records or self._next_path is not None:
            tap = JsonStreamTap(
                records=wants_records, records_path=self._records_path, next_path=self._next_path
            )
        records: int | None = 0 if wants_records else None
        received = 0
        writer = S3ObjectWriter(
            self._s3,
            location,
            content_type=object_type,
            redactor=self._redactor,
            trace=self._trace,
        )
        try:
            for chunk in response.iter_content(CHUNK_BYTES):
                self._http.check_cancelled()
                received += len(chunk)
                if self._mode == "raw":
                    writer.write(chunk)
                if tap is not None:
                    tap, found = self._feed(tap, chunk, final=False)
                    records = self._write_records(writer, records, found)
            if tap is not None:
                tap, found = self._feed(tap, b"", final=True)
                records = self._write_records(writer, records, found)
            if tap is None and self._mode == "raw":
                records = None
            writer.close()
        except BaseException:
            writer.abort()
            raise
        if self._pagination.type == "json-path":
            next_url = resolve_next(response.url, tap.next_value if tap is not None else None)
        else:
            next_url = link_header_next(response)
        return PageLanded(
            key=location.key,
            records=records,
            bytes_written=writer.size,
            bytes_received=received,
            next_url=next_url,
        )

    def _feed(
        self, tap: JsonStreamTap, chunk: bytes, *, final: bool
    ) -> tuple[JsonStreamTap | None, list[Any]]:
        """Parse a chunk; in raw mode a body that is not JSON is still landed, uncounted."""
        try:
            return tap, (tap.close() if final else tap.feed(chunk))
        except LandingError:
            if self._mode == "raw" and self._next_path is None:
                self._trace("raw landing: the body is not valid JSON; records are not counted")
                return None, []
            raise

    def _write_records(self, writer: S3ObjectWriter, records: int | None, found: list[Any]) -> int | None:
        if not found:
            return records
        if self._mode == "flatten":
            writer.write(b"".join(json_line(record) for record in found))
        return None if records is None else records + len(found)
