"""What stands between other web sites and the server, as plain ASGI middleware.

- ``SiteGuard``: the ``Host`` header must name this server (DNS rebinding), and a state-changing
  request must not come from another site (``Origin`` / ``Sec-Fetch-Site``), in every mode.
- ``AuthMiddleware``: with a token, every route but healthz, sign-in and static files needs the
  bearer token or a session cookie.
- ``SecurityHeaders``: CSP, frame and sniffing headers on every answer.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, urlsplit

from runwright.masking import mask
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runwright_api.sessions import Access, TokenCheck

SESSION_COOKIE = "runwright_session"
OPEN_PATHS = ("/api/v1/healthz", "/login", "/logout")  # sign-out also when the session has expired
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
HOST_SHAPE = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?$")
DEFAULT_PORTS = {"http": 80, "https": 443}

PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# FastAPI's /docs and /redoc load Swagger UI / ReDoc from jsDelivr and start them inline
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "font-src https://fonts.gstatic.com; "
    "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly; "
    "worker-src blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
DOCS_PATHS = ("/docs", "/redoc", "/docs/oauth2-redirect")


async def send_json(
    send: Send, status: int, body: dict[str, Any], headers: Iterable[tuple[bytes, bytes]] = ()
) -> None:
    payload = json.dumps(mask(body)).encode()
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


def request_headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def client_address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def split_host(value: str) -> tuple[str, int | None] | None:
    """``(hostname, port)`` of a ``Host`` header or an origin's netloc; None when malformed."""
    if not HOST_SHAPE.match(value):
        return None
    try:
        parts = urlsplit("//" + value)
        return (parts.hostname or "").rstrip(".").lower(), parts.port
    except ValueError:
        return None


def ip_or_none(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


class AllowedHosts:
    """The names a ``Host`` header may carry: the bound address, and the names configured.

    A page that makes its own name resolve to 127.0.0.1 (DNS rebinding) still sends its own
    name in ``Host``, so only names of this server pass. An IP address cannot be rebound: when
    bound to every interface (``0.0.0.0``), any address literal passes; when bound to one, only
    it (and, on loopback, the other loopback addresses and ``localhost``).
    """

    def __init__(self, bind_host: str, extra: Iterable[str] = ()) -> None:
        self.names = {name.strip().rstrip(".").lower() for name in extra if name.strip()}
        bound = ip_or_none(bind_host.strip("[]"))
        self.any_address = bound is not None and bound.is_unspecified
        self.loopback = bind_host == "localhost" or (bound is not None and bound.is_loopback)
        self.bound = bound
        if bound is None:
            self.names.add(bind_host.lower())
        if self.loopback or self.any_address:
            self.names.add("localhost")

    def allows(self, hostname: str) -> bool:
        if hostname in self.names:
            return True
        address = ip_or_none(hostname)
        if address is None:
            return False
        if self.any_address or address == self.bound:
            return True
        return self.loopback and address.is_loopback


class SiteGuard:
    """Refuse a ``Host`` that is not this server (403), and a state-changing request that a
    browser says comes from another site or origin (403); scripts without ``Origin`` pass."""

    def __init__(self, app: ASGIApp, hosts: AllowedHosts) -> None:
        self.app = app
        self.hosts = hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = request_headers(scope)
        host = split_host(headers.get("host", ""))
        if host is None or not self.hosts.allows(host[0]):
            shown = headers.get("host", "")[:100]
            await send_json(
                send,
                403,
                {
                    "error": "forbidden host",
                    "detail": f"Host {shown!r} is not an address of this server; "
                    "add the name with 'runwright serve --allow-host NAME'",
                },
            )
            return
        if self.changes_state(scope) and (problem := self.cross_site(headers, host)):
            await send_json(send, 403, {"error": "cross-site request", "detail": problem})
            return
        await self.app(scope, receive, send)

    @staticmethod
    def changes_state(scope: Scope) -> bool:
        """Every method but GET/HEAD/OPTIONS, and the sign-in link (it opens a session)."""
        if scope.get("method", "GET") not in SAFE_METHODS:
            return True
        return scope.get("path") == "/login" and b"token=" in scope.get("query_string", b"")

    def cross_site(self, headers: dict[str, str], host: tuple[str, int | None]) -> str:
        """Why the browser's headers say the request comes from elsewhere; '' when they do not."""
        fetch_site = headers.get("sec-fetch-site", "").lower()
        if fetch_site in ("cross-site", "same-site"):
            return f"the browser says this request comes from another site (Sec-Fetch-Site: {fetch_site})"
        if fetch_site in ("same-origin", "none"):  # a page cannot set Sec-Fetch-*; Origin may be 'null' then
            return ""
        origin = headers.get("origin")
        if origin is None:
            return ""
        parts = urlsplit(origin) if origin != "null" else None
        where = split_host(parts.netloc) if parts and parts.scheme in DEFAULT_PORTS else None
        if where is None:
            return f"requests from origin {origin[:100]!r} are not accepted"
        default = DEFAULT_PORTS[parts.scheme]  # type: ignore[union-attr]
        same = where[0] == host[0] and (where[1] or default) == (host[1] or default)
        if same or where[0] in self.hosts.names - {"localhost"}:
            return ""
        return f"requests from origin {origin[:100]!r} are not accepted (this server is {host[0]})"


def session_id_of(headers: dict[str, str]) -> str:
    for part in headers.get("cookie", "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == SESSION_COOKIE and value:
            return value
    return ""


class AuthMiddleware:
    """With a token, every route but healthz, sign-in and static files needs it (bearer header)
    or an open session (cookie). Wrong bearer tokens count towards the sign-in throttle."""

    def __init__(self, app: ASGIApp, access: Access) -> None:
        self.app = app
        self.access = access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.access.required:
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        if path in OPEN_PATHS or path.startswith("/static/"):
            await self.app(scope, receive, send)
            return
        headers = request_headers(scope)
        header = headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            checked = self.access.check(header[7:].strip(), client_address(scope))
            if checked is TokenCheck.RIGHT:
                await self.app(scope, receive, send)
                return
            if checked is TokenCheck.THROTTLED:
                await send_throttled(send, self.access.throttle.retry_after(client_address(scope)))
                return
        else:
            session = session_id_of(headers)
            if session and self.access.sessions.valid(session):
                await self.app(scope, receive, send)
                return
        if (
            path.startswith("/api/")
            or path in ("/openapi.json", *DOCS_PATHS)
            or "text/html" not in headers.get("accept", "")
        ):
            await send_json(
                send,
                401,
                {
                    "error": "unauthorized",
                    "detail": "send 'Authorization: Bearer <token>' or sign in at /login",
                },
                [(b"www-authenticate", b"Bearer")],
            )
            return
        target = quote(
            path + ("?" + scope["query_string"].decode("latin-1") if scope.get("query_string") else "")
        )
        await send(
            {
                "type": "http.response.start",
                "status": 303,
                "headers": [(b"location", f"/login?next={target}".encode())],
            }
        )
        await send({"type": "http.response.body", "body": b""})


async def send_throttled(send: Send, retry_after: int) -> None:
    await send_json(
        send,
        429,
        {"error": "too many failed sign-ins", "detail": f"try again in {retry_after} s"},
        [(b"retry-after", str(retry_after).encode())],
    )


class SecurityHeaders:
    """CSP (no inline script, no framing), ``X-Frame-Options``, ``nosniff`` and no referrer to
    other sites (a sign-in link carries the token) on every answer, refusals included.

    Not ``no-referrer``: with it Chromium sends ``Origin: null`` on the page's own form posts."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        csp = (DOCS_CSP if scope.get("path") in DOCS_PATHS else PAGE_CSP).encode()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {key.lower() for key, _ in message.get("headers", [])}
                added = [
                    (key, value)
                    for key, value in (
                        (b"content-security-policy", csp),
                        (b"x-frame-options", b"DENY"),
                        (b"x-content-type-options", b"nosniff"),
                        (b"referrer-policy", b"same-origin"),
                    )
                    if key not in present
                ]
                message = {**message, "headers": [*message.get("headers", []), *added]}
            await send(message)

        await self.app(scope, receive, send_with_headers)
