"""The exceptions a stage using this plugin can fail with.

Class names are part of the interface: runwright records them, and users match them in
`retry: {on: [...]}`, so each kind of failure has its own readable class.
"""

from __future__ import annotations


class ArgumentError(ValueError):
    """A `with:` argument is missing, contradictory or malformed."""


class TaskCancelled(Exception):
    """The run was cancelled while the call was waiting or transferring."""


class HttpError(Exception):
    """An HTTP request failed; the base of every HTTP failure of this plugin."""

    def __init__(self, message: str, *, status_code: int | None = None, url: str | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.url = url


class HttpError4xx(HttpError):
    """The server refused the request (4xx); retrying the same request will not help."""


class HttpError429(HttpError4xx):
    """The server kept answering 429 Too Many Requests after every retry."""


class HttpError5xx(HttpError):
    """The server failed (5xx) on every attempt."""


class HttpTimeout(HttpError):
    """The server did not answer within `timeout` seconds on every attempt."""


class HttpConnectionError(HttpError):
    """The server could not be reached, or dropped the connection, on every attempt."""


class OAuthTokenError(HttpError):
    """The OAuth token endpoint did not hand out an access token."""


class S3Error(Exception):
    """An S3 operation failed (no such bucket, access denied, ...)."""


class S3WaitTimeout(TimeoutError):
    """The sensor's timeout passed before the key or prefix appeared."""


class LandingError(Exception):
    """The API data could not be landed in S3 (for example a record is not valid JSON)."""
