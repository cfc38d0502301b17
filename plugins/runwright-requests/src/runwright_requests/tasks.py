"""The call functions of this plugin, found by runwright as `tasks/<name>@requests`.

Each function takes the stage's `with:` arguments (validated by runwright from these type
hints) and returns the stage outputs. Secrets are `SecretStr` so runwright masks them, and
every output and error message also goes through this call's own Redactor, which knows the
secrets learnt at run time (OAuth access tokens, basic-auth headers).
"""

from __future__ import annotations

import json as jsonlib
import mimetypes
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import SecretStr
from runwright import tag

from .auth import AuthSpec, build_auth, coerce_auth
from .body import CHUNK_BYTES, CapturedBody, capture_body, is_json_type, is_text_type
from .errors import ArgumentError, S3WaitTimeout, TaskCancelled
from .http import METHODS, HttpClient, RetryPolicy
from .jsonpath import JsonPath
from .landing import Lander, Request
from .pagination import PaginationSpec, coerce_pagination, link_header_next, resolve_next
from .redaction import Redactor, Tracer
from .s3 import (
    S3Location,
    S3ObjectWriter,
    check_bucket,
    key_exists,
    list_keys,
    make_client,
    s3_errors,
)

if TYPE_CHECKING:
    import requests

TraceFn = Callable[[str], None]

DEFAULT_MAX_INLINE_BYTES = 1_000_000


# --------------------------------------------------------------------------- arguments


def _secret(value: str | SecretStr | None) -> SecretStr | None:
    """runwright hands SecretStr; a direct Python call may hand a plain string."""
    if value is None or isinstance(value, SecretStr):
        return value
    return SecretStr(str(value))


def _method(method: str) -> str:
    upper = (method or "").strip().upper()
    if upper not in METHODS:
        raise ArgumentError(f"method must be one of {', '.join(sorted(METHODS))} (got {method!r})")
    return upper


def _url(url: str, argument: str = "url") -> str:
    if not isinstance(url, str) or not url.lower().startswith(("http://", "https://")):
        raise ArgumentError(f"{argument} must be an http:// or https:// URL (got {url!r})")
    return url


def _positive(name: str, value: float, *, allow_zero: bool = False) -> None:
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ArgumentError(f"{name} must be {bound} (got {value!r})")


def _retry_policy(retries: int, backoff: float, backoff_max: float) -> RetryPolicy:
    if not 0 <= retries <= 100:
        raise ArgumentError(f"retries must be between 0 and 100 (got {retries!r})")
    _positive("backoff", backoff, allow_zero=True)
    _positive("backoff_max", backoff_max, allow_zero=True)
    return RetryPolicy(retries=retries, backoff=backoff, backoff_max=backoff_max)


def _request_body(json: Any, body: Any) -> tuple[Any, Any]:
    """(json, data) for requests: `json:` or a mapping/list `body:` go as JSON, text as is."""
    if json is not None and body is not None:
        raise ArgumentError("give either json or body, not both")
    if json is not None:
        return json, None
    if isinstance(body, dict | list | int | float | bool):
        return body, None
    if isinstance(body, str):
        return None, body.encode("utf-8")
    return None, body


_SENSITIVE_HEADER = re.compile(r"authorization|api[-_]?key|token|secret|password|cookie", re.I)


def _headers(headers: dict[str, Any] | None, redactor: Redactor) -> dict[str, str] | None:
    """Header values as strings; credentials passed as headers are masked like secrets."""
    if not headers:
        return None
    result = {str(k): str(v) for k, v in headers.items()}
    for name, value in result.items():
        if _SENSITIVE_HEADER.search(name):
            redactor.add(value.split(" ", 1)[1] if " " in value else value)
            redactor.add(value)
    return result


@dataclass
class _Call:
    """What every HTTP call shares: masking, tracing and a client with auth attached."""

    redactor: Redactor
    trace: Tracer
    http: HttpClient


def _http_call(
    *,
    auth: AuthSpec | dict[str, Any] | None,
    timeout: float,
    retries: int,
    backoff: float,
    backoff_max: float,
    trace: TraceFn | None,
    cancel_event: threading.Event | None,
    redactor: Redactor | None = None,
) -> _Call:
    redactor = redactor or Redactor()
    tracer = Tracer(trace, redactor)
    _positive("timeout", timeout)
    client = HttpClient(
        timeout=timeout,
        retry=_retry_policy(retries, backoff, backoff_max),
        redactor=redactor,
        trace=tracer,
        cancel_event=cancel_event,
    )
    client.auth = build_auth(coerce_auth(auth), client, redactor)
    return _Call(redactor=redactor, trace=tracer, http=client)


def _s3_client(
    *,
    aws_access_client_id: str | None,
    aws_access_client_secret: str | SecretStr | None,
    aws_endpoint_url: str | None,
    aws_region: str | None,
    redactor: Redactor,
) -> Any:
    if aws_endpoint_url:
        _url(aws_endpoint_url, "aws_endpoint_url")
    return make_client(
        access_key_id=aws_access_client_id,
        secret_access_key=_secret(aws_access_client_secret),
        endpoint_url=aws_endpoint_url,
        region=aws_region,
        redactor=redactor,
    )


# --------------------------------------------------------------------------- http-request


@dataclass
class _Page:
    body: CapturedBody
    status_code: int
    headers: dict[str, str]
    url: str
    next_link: str | None


def _next_from_body(page: _Page, path: JsonPath, decoded: Any) -> str | None:
    """The json-path next URL, read from the parsed body or, if saved, from its file."""
    if page.body.path is None:
        return resolve_next(page.url, path.lookup(decoded))
    import ijson

    prefix = path.ijson_prefix(argument="pagination.next-url-path")
    with open(page.body.path, "rb") as handle:
        value = next(iter(ijson.items(handle, prefix, use_float=True)), None)
    return resolve_next(page.url, value)


@tag("requests")
def http_request(
    url: str,
    method: str = "GET",
    params: dict[str, Any] | None = None,
    headers: dict[str, Any] | None = None,
    json: Any = None,
    body: Any = None,
    auth: AuthSpec | None = None,
    timeout: float = 30.0,
    retries: int = 3,
    backoff: float = 0.5,
    backoff_max: float = 60.0,
    pagination: PaginationSpec | None = None,
    max_inline_bytes: int = DEFAULT_MAX_INLINE_BYTES,
    save_dir: str | None = None,
    trace: TraceFn | None = None,
    cancel_event: threading.Event | None = None,
) -> dict[str, Any]:
    """Send an HTTP request (following pages if asked) and output status, headers and body.

    Bodies above `max_inline_bytes` in total, or binary ones, are saved under `save_dir`
    (a temporary folder by default) and `body_path` says where; `body` is then null.
    With `pagination`, `body` is a list: the items at `items-path` of every page, or the
    pages' bodies.
    """
    method = _method(method)
    _url(url)
    _positive("max_inline_bytes", max_inline_bytes, allow_zero=True)
    paging = coerce_pagination(pagination)
    next_path = paging.next_path() if paging else None
    items_path = (
        JsonPath.parse(paging.items_path, argument="pagination.items-path")
        if paging and paging.items_path
        else None
    )
    json_body, data = _request_body(json, body)
    call = _http_call(
        auth=auth,
        timeout=timeout,
        retries=retries,
        backoff=backoff,
        backoff_max=backoff_max,
        trace=trace,
        cancel_event=cancel_event,
    )
    spill_dir: Path | None = None

    def spill_path(number: int) -> Callable[[str], Path]:
        def name(extension: str) -> Path:
            nonlocal spill_dir
            if spill_dir is None:
                if save_dir:
                    os.makedirs(save_dir, exist_ok=True)
                spill_dir = Path(tempfile.mkdtemp(prefix="runwright-http-", dir=save_dir))
            return spill_dir / f"page-{number:05d}{extension}"

        return name

    pages: list[_Page] = []
    decoded: list[Any] = []
    has_more = False
    next_url: str | None = url
    seen: set[str] = set()
    max_pages = paging.max_pages if paging else 1
    with call.http:
        while next_url is not None:
            if len(pages) >= max_pages:
                has_more = paging is not None
                if paging:
                    call.trace(f"pagination: stopped at max-pages {max_pages}; more pages remain")
                break
            seen.add(next_url)
            number = len(pages) + 1
            inline_so_far = sum(p.body.size for p in pages if p.body.data is not None)
            budget = 0 if spill_dir else max(0, max_inline_bytes - inline_so_far)
            repeat = number == 1 or (paging is not None and paging.repeat_request)

            def handle(response: requests.Response, n: int = number, cap: int = budget) -> _Page:
                captured = capture_body(response, max_inline_bytes=cap, spill_path=spill_path(n))
                return _Page(
                    body=captured,
                    status_code=response.status_code,
                    headers=dict(response.headers),
                    url=response.url,
                    next_link=link_header_next(response),
                )

            page = call.http.fetch(
                method if repeat else "GET",
                next_url,
                handle,
                params=params if number == 1 else None,
                headers=_headers(headers, call.redactor),
                json=json_body if repeat else None,
                data=data if repeat else None,
            )
            pages.append(page)
            decoded.append(page.body.decoded())
            call.trace(
                f"{method if repeat else 'GET'} {page.url} -> {page.status_code} ({page.body.size} bytes)"
            )
            if paging is None:
                next_url = None
            elif next_path is not None:
                next_url = _next_from_body(page, next_path, decoded[-1])
            else:
                next_url = page.next_link
            if next_url is not None and next_url in seen:
                call.trace(f"pagination: next URL {next_url} was already fetched; stopping")
                next_url = None

    if spill_dir is not None:
        # Too large for outputs: every page goes to the folder, and the body output is null.
        for number, page in enumerate(pages, start=1):
            page.body.save_to(spill_path(number)(".json" if is_json_type(page.body.content_type) else ".txt"))
    last = pages[-1]
    body_path: str | None = None
    out_body: Any = None
    if spill_dir is not None:
        body_path = str(last.body.path) if paging is None else str(spill_dir)
        call.trace(f"the response body is large; saved to {body_path}")
    elif paging is None:
        out_body = decoded[0]
    elif items_path is not None:
        out_body = []
        for number, document in enumerate(decoded, start=1):
            items = items_path.lookup(document)
            if isinstance(items, list):
                out_body.extend(items)
            elif items is not None:
                raise ArgumentError(
                    f"pagination.items-path {items_path.text!r} is not a list on page {number}"
                )
    else:
        out_body = decoded
    outputs = {
        "status_code": last.status_code,
        "headers": last.headers,
        "url": last.url,
        "body": out_body,
        "body_path": body_path,
        "body_bytes": sum(p.body.size for p in pages),
        "pages": len(pages),
        "has_more": has_more,
    }
    return call.redactor.data(outputs)


# --------------------------------------------------------------------------- landing


@tag("requests", alias="get-api-with-oauth-to-s3")
def get_api_with_oauth_to_s3(
    url: str,
    aws_s3_path: str,
    method: str = "GET",
    body: Any = None,
    auth: AuthSpec | None = None,
    writing_mode: Literal["flatten", "raw"] = "raw",
    aws_access_client_id: str | None = None,
    aws_access_client_secret: SecretStr | None = None,
    aws_endpoint_url: str | None = None,
    aws_region: str | None = None,
    params: dict[str, Any] | None = None,
    headers: dict[str, Any] | None = None,
    pagination: PaginationSpec | None = None,
    records_path: str | None = None,
    timeout: float = 60.0,
    retries: int = 3,
    backoff: float = 0.5,
    backoff_max: float = 60.0,
    trace: TraceFn | None = None,
    cancel_event: threading.Event | None = None,
) -> dict[str, Any]:
    """Fetch an API (every page) and land it in S3 under `aws_s3_path` (bucket/prefix).

    `raw` writes each page's body as received to `prefix/page-00001.<ext>`; `flatten` writes
    its records as JSON lines to `prefix/page-00001.jsonl`. Pages stream straight to S3. On
    failure the objects written so far are deleted.
    """
    method = _method(method)
    _url(url)
    if writing_mode not in ("flatten", "raw"):
        raise ArgumentError(f"writing_mode must be flatten or raw (got {writing_mode!r})")
    location = S3Location.parse(aws_s3_path, argument="aws_s3_path", what="prefix")
    paging = coerce_pagination(pagination) or PaginationSpec()
    if paging.items_path:
        raise ArgumentError("pagination.items-path is for http-request; use records_path here")
    records = JsonPath.parse(records_path, argument="records_path") if records_path else None
    if records is not None:
        records.ijson_prefix(argument="records_path")
    next_path = paging.next_path()
    if next_path is not None:  # fail on a path that cannot stream before any request is sent
        next_path.ijson_prefix(argument="pagination.next-url-path")
    json_body, data = _request_body(None, body)
    call = _http_call(
        auth=auth,
        timeout=timeout,
        retries=retries,
        backoff=backoff,
        backoff_max=backoff_max,
        trace=trace,
        cancel_event=cancel_event,
    )
    s3 = _s3_client(
        aws_access_client_id=aws_access_client_id,
        aws_access_client_secret=aws_access_client_secret,
        aws_endpoint_url=aws_endpoint_url,
        aws_region=aws_region,
        redactor=call.redactor,
    )
    lander = Lander(
        http=call.http,
        s3=s3,
        location=location,
        writing_mode=writing_mode,
        records_path=records,
        pagination=paging,
        redactor=call.redactor,
        trace=call.trace,
    )
    with call.http:
        result = lander.run(
            Request(
                method=method,
                url=url,
                params=params,
                headers=_headers(headers, call.redactor),
                json=json_body,
                data=data,
            )
        )
    outputs = {
        "bucket": result.bucket,
        "keys": result.keys,
        "uris": [f"s3://{result.bucket}/{key}" for key in result.keys],
        "writing_mode": writing_mode,
        "records": result.records,
        "bytes": result.bytes_written,
        "response_bytes": result.bytes_received,
        "pages": result.pages,
        "has_more": result.has_more,
    }
    return call.redactor.data(outputs)


# --------------------------------------------------------------------------- s3-*


def _s3_context(
    trace: TraceFn | None,
    aws_access_client_id: str | None,
    aws_access_client_secret: str | SecretStr | None,
    aws_endpoint_url: str | None,
    aws_region: str | None,
) -> tuple[Redactor, Tracer, Any]:
    redactor = Redactor()
    client = _s3_client(
        aws_access_client_id=aws_access_client_id,
        aws_access_client_secret=aws_access_client_secret,
        aws_endpoint_url=aws_endpoint_url,
        aws_region=aws_region,
        redactor=redactor,
    )
    return redactor, Tracer(trace, redactor), client


@tag("requests")
def s3_put(
    aws_s3_path: str,
    content: str | None = None,
    json: Any = None,
    source_path: str | None = None,
    content_type: str | None = None,
    aws_access_client_id: str | None = None,
    aws_access_client_secret: SecretStr | None = None,
    aws_endpoint_url: str | None = None,
    aws_region: str | None = None,
    trace: TraceFn | None = None,
    cancel_event: threading.Event | None = None,
) -> dict[str, Any]:
    """Write `content` (text), `json` (a value) or the file at `source_path` to bucket/key.

    Files are streamed (multipart when large); a failed upload leaves no object behind.
    """
    location = S3Location.parse(aws_s3_path, argument="aws_s3_path", what="key")
    given = [
        n for n, v in (("content", content), ("json", json), ("source_path", source_path)) if v is not None
    ]
    if len(given) != 1:
        raise ArgumentError(
            "give exactly one of content, json or source_path"
            + (f" (got {', '.join(given)})" if given else "")
        )
    if source_path is not None and not os.path.isfile(source_path):
        raise ArgumentError(f"source_path {source_path!r} is not a readable file")
    redactor, tracer, client = _s3_context(
        trace, aws_access_client_id, aws_access_client_secret, aws_endpoint_url, aws_region
    )
    if json is not None:
        kind = content_type or "application/json"
    elif content is not None:
        kind = content_type or "text/plain; charset=utf-8"
    else:
        kind = content_type or mimetypes.guess_type(source_path or "")[0] or "application/octet-stream"
    writer = S3ObjectWriter(client, location, content_type=kind, redactor=redactor, trace=tracer)
    try:
        if json is not None:
            writer.write(jsonlib.dumps(json, ensure_ascii=False).encode("utf-8"))
        elif content is not None:
            writer.write(content.encode("utf-8"))
        else:
            with open(source_path or "", "rb") as handle:
                while chunk := handle.read(CHUNK_BYTES * 16):
                    if cancel_event is not None and cancel_event.is_set():
                        raise TaskCancelled("the run was cancelled")
                    writer.write(chunk)
        writer.close()
    except BaseException:
        writer.abort()
        raise
    tracer(f"s3: wrote {writer.size} bytes to {location.uri}")
    return redactor.data(
        {
            "bucket": location.bucket,
            "key": location.key,
            "uri": location.uri,
            "bytes": writer.size,
            "etag": writer.etag,
            "content_type": kind,
        }
    )


@tag("requests")
def s3_get(
    aws_s3_path: str,
    destination_path: str | None = None,
    max_inline_bytes: int = DEFAULT_MAX_INLINE_BYTES,
    aws_access_client_id: str | None = None,
    aws_access_client_secret: SecretStr | None = None,
    aws_endpoint_url: str | None = None,
    aws_region: str | None = None,
    trace: TraceFn | None = None,
    cancel_event: threading.Event | None = None,
) -> dict[str, Any]:
    """Read bucket/key: as `body` (JSON or text) when small, else saved to `path`.

    With `destination_path` the object is always saved there (streamed, written to a
    temporary name first so a failed download leaves no partial file).
    """
    location = S3Location.parse(aws_s3_path, argument="aws_s3_path", what="key")
    _positive("max_inline_bytes", max_inline_bytes, allow_zero=True)
    redactor, tracer, client = _s3_context(
        trace, aws_access_client_id, aws_access_client_secret, aws_endpoint_url, aws_region
    )
    with s3_errors("GetObject", location, redactor):
        response = client.get_object(Bucket=location.bucket, Key=location.key)
        stream = response["Body"]
        size = int(response.get("ContentLength") or 0)
        kind = response.get("ContentType") or ""
        etag = str(response.get("ETag", "")).strip('"') or None
        json_like = is_json_type(kind) or location.key.endswith(".json")
        inline = destination_path is None and size <= max_inline_bytes and is_text_type(kind)
        out_body: Any = None
        path: str | None = None
        if inline:
            raw = stream.read()
            text = raw.decode("utf-8", errors="replace")
            out_body = text
            if json_like:
                try:
                    out_body = jsonlib.loads(raw)
                except ValueError:
                    out_body = text
        else:
            if destination_path is None:
                folder = tempfile.mkdtemp(prefix="runwright-s3-")
                target = Path(folder) / (Path(location.key).name or "object")
            else:
                target = Path(destination_path)
                target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(target.name + ".part")
            try:
                with open(partial, "wb") as handle:
                    for chunk in stream.iter_chunks(CHUNK_BYTES * 16):
                        if cancel_event is not None and cancel_event.is_set():
                            raise TaskCancelled("the run was cancelled")
                        handle.write(chunk)
                os.replace(partial, target)
            except BaseException:
                partial.unlink(missing_ok=True)
                raise
            path = str(target)
            tracer(f"s3: saved {location.uri} ({size} bytes) to {path}")
    return redactor.data(
        {
            "bucket": location.bucket,
            "key": location.key,
            "uri": location.uri,
            "bytes": size,
            "content_type": kind,
            "etag": etag,
            "body": out_body,
            "path": path,
        }
    )


@tag("requests")
def s3_wait_for_key(
    aws_s3_path: str,
    match: Literal["key", "prefix"] = "key",
    timeout: float = 300.0,
    poke_interval: float = 5.0,
    max_keys: int = 1000,
    aws_access_client_id: str | None = None,
    aws_access_client_secret: SecretStr | None = None,
    aws_endpoint_url: str | None = None,
    aws_region: str | None = None,
    trace: TraceFn | None = None,
    cancel_event: threading.Event | None = None,
) -> dict[str, Any]:
    """A sensor: wait until bucket/key (or any key under a prefix) exists.

    Checks every `poke_interval` seconds until `timeout` passes (then fails with
    S3WaitTimeout) or the run is cancelled (TaskCancelled). Outputs the keys found.
    """
    if match not in ("key", "prefix"):
        raise ArgumentError(f"match must be key or prefix (got {match!r})")
    location = S3Location.parse(aws_s3_path, argument="aws_s3_path", what=match, keep_slash=match == "prefix")
    _positive("timeout", timeout, allow_zero=True)
    _positive("poke_interval", poke_interval)
    if not 1 <= max_keys <= 100_000:
        raise ArgumentError(f"max_keys must be between 1 and 100000 (got {max_keys!r})")
    redactor, tracer, client = _s3_context(
        trace, aws_access_client_id, aws_access_client_secret, aws_endpoint_url, aws_region
    )
    check_bucket(client, location, redactor=redactor)
    started = time.monotonic()
    deadline = started + timeout
    pokes = 0
    while True:
        if cancel_event is not None and cancel_event.is_set():
            raise TaskCancelled(f"the run was cancelled while waiting for {location.uri}")
        pokes += 1
        if match == "key":
            keys = [location.key] if key_exists(client, location, redactor=redactor) else []
        else:
            keys = list_keys(client, location, limit=max_keys, redactor=redactor)
        if keys:
            waited = time.monotonic() - started
            tracer(f"s3: found {len(keys)} key(s) at {location.uri} after {pokes} check(s)")
            return redactor.data(
                {
                    "bucket": location.bucket,
                    "keys": keys,
                    "uris": [f"s3://{location.bucket}/{key}" for key in keys],
                    "pokes": pokes,
                    "waited_seconds": round(waited, 3),
                }
            )
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise S3WaitTimeout(f"no {match} {location.uri} appeared within {timeout:g} s ({pokes} checks)")
        pause = min(poke_interval, remaining)
        tracer(f"s3: {location.uri} not there yet; checking again in {pause:.1f} s")
        if cancel_event is not None:
            if cancel_event.wait(pause):
                raise TaskCancelled(f"the run was cancelled while waiting for {location.uri}")
        else:
            time.sleep(pause)
