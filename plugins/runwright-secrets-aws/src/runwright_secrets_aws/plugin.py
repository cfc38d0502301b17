"""AWS Secrets Manager as a secret source: ``${API_TOKEN}`` reads the secret ``<prefix>API_TOKEN``.

On only when ``RUNWRIGHT_AWS_SECRETS_PREFIX`` is set (to the prefix of the secrets it serves,
``prod/etl/``; set but empty: names as they are), so an installed plugin makes no AWS call for a
deployment that does not use it. The account, region and endpoint are boto3's usual settings
(``AWS_PROFILE``, ``AWS_DEFAULT_REGION``, ``AWS_ENDPOINT_URL_SECRETS_MANAGER``...); boto3 is
imported when a name is first looked up. Values are the secrets' ``SecretString`` text, every
one masked; they are kept ``RUNWRIGHT_AWS_SECRETS_CACHE_SECONDS`` (default 300) in a process.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from runwright.errors import RunwrightError
from runwright.hookspecs import hookimpl

PREFIX_VARIABLE = "RUNWRIGHT_AWS_SECRETS_PREFIX"
CACHE_VARIABLE = "RUNWRIGHT_AWS_SECRETS_CACHE_SECONDS"
DEFAULT_CACHE_SECONDS = 300.0
NOT_FOUND = {"ResourceNotFoundException"}


def cache_seconds() -> float:
    text = os.environ.get(CACHE_VARIABLE, "").strip()
    try:
        value = float(text) if text else DEFAULT_CACHE_SECONDS
    except ValueError:
        return DEFAULT_CACHE_SECONDS
    return max(0.0, value)


class AwsSecretsManagerSource:
    """The secrets whose names start with ``prefix``, by the rest of their name."""

    order = 400
    always_secret = True

    def __init__(self, prefix: str, client: Any = None, ttl: float | None = None) -> None:
        self.prefix = prefix
        self.label = f"AWS Secrets Manager (names starting '{prefix}')" if prefix else "AWS Secrets Manager"
        self._client = client
        self._ttl = cache_seconds() if ttl is None else ttl
        self._lock = threading.Lock()
        self._values: dict[str, tuple[float, str | None]] = {}
        self._names: tuple[float, frozenset[str]] | None = None

    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                import boto3

                self._client = boto3.client("secretsmanager")
            return self._client

    def _fresh(self, stamp: float) -> bool:
        return time.monotonic() - stamp < self._ttl

    def get(self, name: str) -> str | None:
        with self._lock:
            cached = self._values.get(name)
        if cached is not None and self._fresh(cached[0]):
            return cached[1]
        from botocore.exceptions import BotoCoreError, ClientError

        secret_id = f"{self.prefix}{name}"
        try:
            answer = self.client().get_secret_value(SecretId=secret_id)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in NOT_FOUND:
                raise self._error(f"could not read secret '{secret_id}'", exc) from None
            value = None
        except BotoCoreError as exc:
            raise self._error(f"could not read secret '{secret_id}'", exc) from None
        else:
            value = answer.get("SecretString")
            if value is None and answer.get("SecretBinary") is not None:
                value = bytes(answer["SecretBinary"]).decode("utf-8", errors="replace")
        with self._lock:
            self._values[name] = (time.monotonic(), value)
        return value

    def names(self) -> Iterable[str]:
        with self._lock:
            cached = self._names
        if cached is not None and self._fresh(cached[0]):
            return cached[1]
        from botocore.exceptions import BotoCoreError, ClientError

        found: set[str] = set()
        arguments: dict[str, Any] = {"MaxResults": 100}
        if self.prefix:
            arguments["Filters"] = [{"Key": "name", "Values": [self.prefix]}]
        try:
            for page in self.client().get_paginator("list_secrets").paginate(**arguments):
                for entry in page.get("SecretList", []):
                    secret = str(entry.get("Name", ""))
                    if secret.startswith(self.prefix) and len(secret) > len(self.prefix):
                        found.add(secret[len(self.prefix) :])
        except (BotoCoreError, ClientError) as exc:
            raise self._error("could not list secrets", exc) from None
        names = frozenset(found)
        with self._lock:
            self._names = (time.monotonic(), names)
        return names

    def _error(self, what: str, exc: Exception) -> RunwrightError:
        return RunwrightError(f"{self.label}: {what}: {type(exc).__name__}: {exc}")


_SOURCES: dict[str, AwsSecretsManagerSource] = {}
_SOURCES_LOCK = threading.Lock()


@hookimpl
def secret_sources(conf_path: Path | None) -> list[Any]:
    """The AWS source when ``RUNWRIGHT_AWS_SECRETS_PREFIX`` is set (one per prefix and process,
    so its cache is shared by every conf path)."""
    prefix = os.environ.get(PREFIX_VARIABLE)
    if prefix is None:
        return []
    with _SOURCES_LOCK:
        source = _SOURCES.get(prefix)
        if source is None:
            source = _SOURCES[prefix] = AwsSecretsManagerSource(prefix)
    return [source]
