"""The `auth:` argument: bearer, basic and OAuth client-credentials authentication.

Secrets stay `SecretStr` until the moment a request is built, and every secret (including
the access token an OAuth server hands out) is registered with the call's Redactor first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError, model_validator

from .errors import ArgumentError
from .redaction import Redactor, reveal

if TYPE_CHECKING:
    import requests

    from .http import HttpClient


def _hyphenate(name: str) -> str:
    """YAML spells nested keys with hyphens (`token-url`); Python with underscores."""
    return name.replace("_", "-")


class AuthSpec(BaseModel):
    """How to authenticate: `{type: bearer|basic|oauth-client-credentials, ...}`."""

    # built on first use, not when `runwright plugins` or a run imports this module to list calls
    # (the first model a process builds costs ~30 ms: pydantic reads every distribution's metadata)
    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, alias_generator=_hyphenate, defer_build=True
    )

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


def build_auth(
    spec: AuthSpec | None, client: HttpClient, redactor: Redactor
) -> requests.auth.AuthBase | None:
    """The requests auth object for `spec`, registering its secrets with `redactor`."""
    if spec is None:
        return None
    from requests.auth import HTTPBasicAuth  # here: listing the calls does not import requests

    from .token_auth import BearerAuth, OAuthClientCredentials

    if spec.type == "bearer":
        token = spec.keys or spec.token
        assert token is not None
        redactor.add(token)
        return BearerAuth(token)
    if spec.type == "basic":
        assert spec.username is not None
        redactor.add_basic(spec.username, spec.password)
        return HTTPBasicAuth(spec.username, reveal(spec.password) or "")
    redactor.add(spec.client_secret)
    if spec.client_id:
        redactor.add_basic(spec.client_id, spec.client_secret)
    return OAuthClientCredentials(spec, client, redactor)
