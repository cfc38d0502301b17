"""The `auth:` argument: bearer, basic and OAuth client-credentials authentication.

Secrets stay `SecretStr` until the moment a request is built, and every secret (including
the access token an OAuth server hands out) is registered with the call's Redactor first.
"""

from __future__ import annotations

import json
import threading
import time
from typing import TYPE_CHECKING, Any, Literal

import requests
from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError, model_validator

from .errors import ArgumentError, HttpError, OAuthTokenError
from .redaction import Redactor, reveal

if TYPE_CHECKING:
    from .http import HttpClient

# Refresh an OAuth token this many seconds before the server says it expires.
_EXPIRY_SKEW_SECONDS = 30.0


def _hyphenate(name: str) -> str:
    """YAML spells nested keys with hyphens (`token-url`); Python with underscores."""
    return name.replace("_", "-")


class AuthSpec(BaseModel):
    """How to authenticate: `{type: bearer|basic|oauth-client-credentials, ...}`."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, alias_generator=_hyphenate)

    type: Literal["bearer", "basic", "oauth-client-credentials"]
    keys: SecretStr | None = None
    token: SecretStr | None = None
    username: str | None = None
    password: SecretStr | None = None
    token_url: str | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    scope: str | None = None
    audience: str | None = None
    client_auth: Literal["basic", "body"] = "basic"

    @model_validator(mode="after")
    def _check_required(self) -> AuthSpec:
        """Name the missing key for the chosen type, so the YAML is easy to fix."""
        missing: list[str]
        if self.type == "bearer":
            missing = [] if (self.keys or self.token) else ["keys"]
        elif self.type == "basic":
            missing = [n for n in ("username", "password") if getattr(self, n) is None]
        else:
            missing = [
                _hyphenate(n) for n in ("token_url", "client_id", "client_secret") if getattr(self, n) is None
            ]
        if missing:
            raise ValueError(f"auth type {self.type} needs {', '.join(missing)}")
        return self


def coerce_auth(value: AuthSpec | dict[str, Any] | None) -> AuthSpec | None:
    """Accept an already validated spec or a plain mapping (a direct Python call)."""
    if value is None or isinstance(value, AuthSpec):
        return value
    try:
        return AuthSpec.model_validate(value)
    except ValidationError as exc:
        raise ArgumentError(f"invalid auth: {describe_validation_error(exc)}") from None


def describe_validation_error(exc: ValidationError) -> str:
    """pydantic's problems without the input values (which may hold secrets)."""
    problems = []
    for error in exc.errors(include_input=False, include_url=False):
        where = ".".join(str(p) for p in error["loc"])
        problems.append(f"{where}: {error['msg']}" if where else error["msg"])
    return "; ".join(problems)


class BearerAuth(requests.auth.AuthBase):
    """`Authorization: Bearer <token>`."""

    def __init__(self, token: SecretStr) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token.get_secret_value()}"
        return request


class OAuthClientCredentials(requests.auth.AuthBase):
    """Fetch an access token with the client-credentials grant and send it as a bearer.

    The token is cached for the call and thrown away on a 401 (see `invalidate`), so a token
    that expired early is fetched again once.
    """

    def __init__(self, spec: AuthSpec, client: HttpClient, redactor: Redactor) -> None:
        self._spec = spec
        self._client = client
        self._redactor = redactor
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0

    def invalidate(self) -> bool:
        """Forget the cached token; True when there was one (so a retry may help)."""
        with self._lock:
            had = self._token is not None
            self._token = None
            return had

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._access_token()}"
        return request

    def _access_token(self) -> str:
        with self._lock:
            if self._token is None or time.monotonic() >= self._expires_at:
                self._token, lifetime = self._fetch_token()
                self._expires_at = time.monotonic() + max(0.0, lifetime - _EXPIRY_SKEW_SECONDS)
            return self._token

    def _fetch_token(self) -> tuple[str, float]:
        spec = self._spec
        assert spec.token_url and spec.client_id and spec.client_secret
        form = {"grant_type": "client_credentials"}
        if spec.scope:
            form["scope"] = spec.scope
        if spec.audience:
            form["audience"] = spec.audience
        token_auth: requests.auth.AuthBase | None = None
        if spec.client_auth == "basic":
            token_auth = requests.auth.HTTPBasicAuth(spec.client_id, reveal(spec.client_secret))
        else:
            form["client_id"] = spec.client_id
            form["client_secret"] = spec.client_secret.get_secret_value()
        self._client.trace(f"oauth: requesting a client-credentials token from {spec.token_url}")
        try:
            payload = self._client.fetch(
                "POST",
                spec.token_url,
                lambda response: response.content,
                data=form,
                headers={"Accept": "application/json"},
                auth=token_auth,
            )
        except HttpError as exc:
            raise OAuthTokenError(
                f"OAuth token request failed: {exc}", status_code=exc.status_code, url=exc.url
            ) from None
        try:
            document = json.loads(payload)
            token = document["access_token"]
        except (ValueError, KeyError, TypeError):
            raise OAuthTokenError(
                f"OAuth token endpoint {spec.token_url} answered without an access_token",
                url=spec.token_url,
            ) from None
        if not isinstance(token, str) or not token:
            raise OAuthTokenError(
                f"OAuth token endpoint {spec.token_url} answered an empty access_token",
                url=spec.token_url,
            )
        self._redactor.add(token)
        lifetime = document.get("expires_in")
        lifetime = float(lifetime) if isinstance(lifetime, int | float) else 3600.0
        self._client.trace("oauth: token received")
        return token, lifetime


def build_auth(
    spec: AuthSpec | None, client: HttpClient, redactor: Redactor
) -> requests.auth.AuthBase | None:
    """The requests auth object for `spec`, registering its secrets with `redactor`."""
    if spec is None:
        return None
    if spec.type == "bearer":
        token = spec.keys or spec.token
        assert token is not None
        redactor.add(token)
        return BearerAuth(token)
    if spec.type == "basic":
        assert spec.username is not None
        redactor.add_basic(spec.username, spec.password)
        return requests.auth.HTTPBasicAuth(spec.username, reveal(spec.password) or "")
    redactor.add(spec.client_secret)
    if spec.client_id:
        redactor.add_basic(spec.client_id, spec.client_secret)
    return OAuthClientCredentials(spec, client, redactor)
