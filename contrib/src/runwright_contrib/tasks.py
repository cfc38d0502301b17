"""Call functions the example templates use."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, SecretStr
from runwright import tag


class BearerAuth(BaseModel):
    type: Literal["bearer"] = "bearer"
    keys: SecretStr


@tag("requests", alias="get-api-with-oauth-to-s3")
def get_api_with_oauth_to_s3(
    url: str,
    body: dict[str, Any],
    auth: BearerAuth,
    method: Literal["get", "post", "GET", "POST"] = "post",
    writing_mode: Literal["flatten", "raw"] = "flatten",
    aws_s3_path: str = "",
    aws_access_client_id: str | None = None,
    aws_access_client_secret: SecretStr | None = None,
    trace: Any = None,
) -> dict[str, Any]:
    """Stand-in for the real HTTP-to-S3 task: describes the request it would make.

    The runwright-requests plugin provides the real one; this keeps the seed example runnable
    on a machine with no API and no S3.
    """
    if trace is not None:
        trace(f"would {method.upper()} {url} with bearer token {auth.keys.get_secret_value()}")
    return {
        "method": method.upper(),
        "url": url,
        "body": body,
        "writing_mode": writing_mode,
        "target": aws_s3_path,
        "authorized": bool(auth.keys.get_secret_value()),
    }


@tag("local")
def greet(name: str, times: int = 1) -> dict[str, Any]:
    """A tiny call function for the hello example."""
    return {"greeting": " ".join([f"hello {name}"] * times)}


@tag("local", alias="sum-numbers")
async def sum_numbers(numbers: list[float]) -> dict[str, float]:
    """An async call function: the engine runs it on its own event loop."""
    return {"total": sum(numbers)}
