"""Sending one HTTP request with retries, backoff, Retry-After and cancellation.

`HttpClient.fetch` owns the retry loop; the caller passes a `handle(response)` function that
consumes the (streamed) body. A handler that fails while reading the body with a connection
error is retried like a failed request, so handlers must clean up their partial work (for
example abort an S3 upload) before letting the error through.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from runwright.trace import current_traceparent

from .errors import (
    HttpConnectionError,
    HttpError,
    HttpError4xx,
    HttpError5xx,
    HttpError429,
    HttpTimeout,
    TaskCancelled,
)
from .redaction import Redactor, Tracer

if TYPE_CHECKING:
    import requests

T = TypeVar("T")

# How much of an error body goes into the exception message.
ERROR_EXCERPT_BYTES = 500

METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})

_DEFAULT: Any = object()


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry transient failures."""

    retries: int = 3
    backoff: float = 0.5
    backoff_max: float = 60.0

    def backoff_delay(self, attempt: int) -> float:
        """Exponential backoff for the retry after failed attempt number `attempt` (0-based)."""
        return min(self.backoff_max, self.backoff * (2**attempt))


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds asked for by a `Retry-After` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime  # with socket, ~5 ms of listing this plugin's calls

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def with_trace_context(headers: Mapping[str, str] | None) -> dict[str, str] | None:
    """The request's headers plus the running stage's W3C ``traceparent`` (when the run is
    traced and the call did not set one), so the server's spans join the run's trace."""
    traceparent = current_traceparent()
    if traceparent is None or any(name.lower() == "traceparent" for name in headers or {}):
        return dict(headers) if headers else None
    return {**(headers or {}), "traceparent": traceparent}


def _is_timeout(exc: BaseException) -> bool:
    """requests reports a read time-out during body streaming as a ConnectionError."""
    import requests

    return isinstance(exc, requests.Timeout) or "timed out" in str(exc).lower()


def _error_class(status: int) -> type[HttpError]:
    if status == 429:
        return HttpError429
    if status >= 500:
        return HttpError5xx
    return HttpError4xx


class HttpClient:
    """A requests session plus the call's retry policy, time-out, masking and cancellation."""

    def __init__(
        self,
        *,
        timeout: float,
        retry: RetryPolicy,
        redactor: Redactor,
        trace: Tracer,
        cancel_event: threading.Event | None = None,
    ) -> None:
        import requests  # here, when a call sends a request: listing the calls does not need it

        self.session = requests.Session()
        self.timeout = timeout
        self.retry = retry
        self.redactor = redactor
        self.trace = trace
        self.cancel_event = cancel_event
        self.auth: requests.auth.AuthBase | None = None

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def check_cancelled(self) -> None:
        """Raise TaskCancelled once the run has been cancelled."""
        if self.cancel_event is not None and self.cancel_event.is_set():
            raise TaskCancelled("the run was cancelled")

    def sleep(self, seconds: float) -> None:
        """Wait, but wake up (and raise) as soon as the run is cancelled."""
        if self.cancel_event is None:
            time.sleep(seconds)
        elif self.cancel_event.wait(seconds):
            raise TaskCancelled("the run was cancelled")

    def fetch(
        self,
        method: str,
        url: str,
        handle: Callable[[requests.Response], T],
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        data: Any = None,
        auth: requests.auth.AuthBase | None = _DEFAULT,
    ) -> T:
        """Send the request (retrying transient failures) and return `handle(response)`."""
        import requests

        auth = self.auth if auth is _DEFAULT else auth
        token_refreshed = False
        attempt = 0
        while True:
            self.check_cancelled()
            delay: float | None = None
            try:
                response = self.session.request(
                    method,
                    url,
                    params=params,
                    headers=with_trace_context(headers),
                    json=json,
                    data=data,
                    auth=auth,
                    timeout=self.timeout,
                    stream=True,
                )
            except requests.RequestException as exc:
                failure = self._transport_error(method, url, exc, phase="request")
            else:
                with response:
                    status = response.status_code
                    invalidate = getattr(auth, "invalidate", None)
                    if status == 401 and not token_refreshed and invalidate and invalidate():
                        token_refreshed = True
                        self.trace(f"{method} {url}: 401, fetching a new access token")
                        continue
                    if status < 400:
                        try:
                            return handle(response)
                        except requests.RequestException as exc:
                            failure = self._transport_error(method, url, exc, phase="body")
                    else:
                        failure = self._status_error(method, url, response)
                        if status != 429 and status < 500:
                            raise failure
                        delay = self._retry_after(response)
            if attempt >= self.retry.retries:
                raise failure
            if delay is None:
                delay = self.retry.backoff_delay(attempt)
            attempt += 1
            self.trace(
                f"{method} {url}: {type(failure).__name__}; "
                f"retry {attempt}/{self.retry.retries} in {delay:.2f} s"
            )
            self.sleep(delay)

    def _retry_after(self, response: requests.Response) -> float | None:
        """The server's Retry-After, capped at backoff_max so a stage cannot hang for hours."""
        asked = retry_after_seconds(response.headers.get("Retry-After"))
        if asked is None:
            return None
        if asked > self.retry.backoff_max:
            self.trace(
                f"Retry-After {asked:.0f} s is above backoff_max; waiting {self.retry.backoff_max:.0f} s"
            )
            return self.retry.backoff_max
        return asked

    def _transport_error(
        self, method: str, url: str, exc: requests.RequestException, *, phase: str
    ) -> HttpError:
        where = "while reading the response body" if phase == "body" else ""
        if _is_timeout(exc):
            message = f"{method} {url} got no answer within {self.timeout:g} s {where}"
            return HttpTimeout(self.redactor.text(message.strip()), url=url)
        message = f"{method} {url} failed {where}: {type(exc).__name__}: {exc}"
        return HttpConnectionError(self.redactor.text(message.replace("  ", " ")), url=url)

    def _status_error(self, method: str, url: str, response: requests.Response) -> HttpError:
        """An error naming the status and quoting the first 500 bytes of the body."""
        try:
            excerpt = response.raw.read(ERROR_EXCERPT_BYTES, decode_content=True) or b""
        except Exception:  # noqa: BLE001 - the status alone still makes a useful error
            excerpt = b""
        text = excerpt[:ERROR_EXCERPT_BYTES].decode("utf-8", errors="replace")
        status = response.status_code
        message = f"HTTP {status} {response.reason or ''} from {method} {url}: {text}"
        return _error_class(status)(self.redactor.text(message), status_code=status, url=url)
