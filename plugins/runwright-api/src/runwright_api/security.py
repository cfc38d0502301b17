"""Bearer-token/session-cookie auth and request body limits, as plain ASGI middleware."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY_BYTES = 64 * 1024
SESSION_COOKIE = "runwright_session"
OPEN_PATHS = ("/api/v1/healthz", "/login")


def session_value(token: str) -> str:
    """The session cookie's value: derived from the token, so no session store is needed."""
    return hmac.new(token.encode(), b"runwright-session", hashlib.sha256).hexdigest()


def authorized(headers: dict[str, str], token: str) -> bool:
    """Bearer header or session cookie, compared in constant time."""
    header = headers.get("authorization", "")
    if header.lower().startswith("bearer ") and hmac.compare_digest(
        header[7:].strip().encode(), token.encode()
    ):
        return True
    for part in headers.get("cookie", "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == SESSION_COOKIE and hmac.compare_digest(value.encode(), session_value(token).encode()):
            return True
    return False


async def send_json(
    send: Send, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]] = ()
) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class AuthMiddleware:
    """With a token, every route but healthz, login and static files needs it."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.token:
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        if path in OPEN_PATHS or path.startswith("/static/"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if authorized(headers, self.token):
            await self.app(scope, receive, send)
            return
        if (
            path.startswith("/api/")
            or path in ("/docs", "/openapi.json", "/redoc")
            or "text/html" not in headers.get("accept", "")
        ):
            await send_json(
                send,
                401,
                {"error": "unauthorized", "detail": "send 'Authorization: Bearer <RUNWRIGHT_API_TOKEN>'"},
                [(b"www-authenticate", b"Bearer")],
            )
            return
        from urllib.parse import quote

        target = quote(path + ("?" + scope["query_string"].decode() if scope.get("query_string") else ""))
        await send(
            {
                "type": "http.response.start",
                "status": 303,
                "headers": [(b"location", f"/login?next={target}".encode())],
            }
        )
        await send({"type": "http.response.body", "body": b""})


class BodyLimitMiddleware:
    """Refuse request bodies over ``max_bytes`` (413), declared or streamed."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_big = {"error": "request body too large", "detail": f"the limit is {self.max_bytes} bytes"}
        for key, value in scope.get("headers", []):
            if key == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await send_json(send, 413, too_big)
                return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await send_json(send, 413, too_big)


class BodyTooLarge(Exception):
    """A streamed body passed the limit."""
