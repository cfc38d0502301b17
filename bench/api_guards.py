"""What the server's guards cost per request: Host/Origin check, bearer token, security headers
and the body guard (read whole, JSON checked), in-process, without sockets or routes.

    uv run python bench/api_guards.py [--requests 20000]

Each request goes through the same middleware chain ``create_app`` builds, around an ASGI app
that answers 200 at once, and through that app alone; the difference is the guards' cost.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from runwright_api.bodies import RequestBodyGuard
from runwright_api.security import AllowedHosts, AuthMiddleware, SecurityHeaders, SiteGuard
from runwright_api.sessions import Access

TOKEN = "bench-token-" + "b" * 24
BODY = json.dumps({"params": {"name": "ada", "times": 3, "tags": ["a", "b"], "when": "2024-01-01"}}).encode()

App = Callable[
    [dict[str, Any], Callable[[], Awaitable[dict[str, Any]]], Callable[[dict[str, Any]], Awaitable[None]]],
    Awaitable[None],
]


async def answer(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"{}"})


def guarded(app: App) -> App:
    """The chain in create_app's order (the last wrapped runs first)."""
    chain: Any = RequestBodyGuard(app)
    chain = AuthMiddleware(chain, access=Access(TOKEN))
    chain = SiteGuard(chain, hosts=AllowedHosts("127.0.0.1"))
    return SecurityHeaders(chain)


def scope_of(method: str, body: bytes) -> dict[str, Any]:
    headers = [
        (b"host", b"127.0.0.1:8000"),
        (b"authorization", f"Bearer {TOKEN}".encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    if body:
        headers += [(b"content-type", b"application/json"), (b"origin", b"http://127.0.0.1:8000")]
    return {
        "type": "http",
        "method": method,
        "path": "/api/v1/workflows/one/runs",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
    }


async def time_requests(app: App, method: str, body: bytes, count: int) -> float:
    """Microseconds per request."""
    scope = scope_of(method, body)
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    began = time.perf_counter()
    for _ in range(count):
        await app(scope, receive, send)
    elapsed = time.perf_counter() - began
    assert set(statuses) == {200}, set(statuses)
    return elapsed / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    chain = guarded(answer)
    print(f"{args.requests} requests, best and median of {args.repeats}; JSON body {len(BODY)} bytes")
    for label, method, body in (("GET, no body", "GET", b""), ("POST, JSON body", "POST", BODY)):
        bare = [asyncio.run(time_requests(answer, method, body, args.requests)) for _ in range(args.repeats)]
        full = [asyncio.run(time_requests(chain, method, body, args.requests)) for _ in range(args.repeats)]
        added = [f - b for f, b in zip(full, bare, strict=True)]
        print(
            f"{label:<16} bare {min(bare):.1f} us, guarded {min(full):.1f} us: "
            f"the guards add {min(added):.1f} us (median {statistics.median(added):.1f} us) per request"
        )


if __name__ == "__main__":
    main()
