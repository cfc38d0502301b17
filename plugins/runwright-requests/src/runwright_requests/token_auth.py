"""The bearer-token auth objects requests calls on each request: a fixed token, and OAuth
client-credentials (a token fetched, cached and refreshed). Imported when a call authenticates,
so listing the plugin's calls does not import requests."""

from __future__ import annotations

import json
import threading
import time
from typing import TYPE_CHECKING

import requests
from pydantic import SecretStr

from .errors import HttpError, OAuthTokenError
from .redaction import Redactor, reveal

if TYPE_CHECKING:
    from .auth import AuthSpec
    from .http import HttpClient

# Refresh an OAuth token this many seconds before the server says it expires.
_EXPIRY_SKEW_SECONDS = 30.0


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
