"""Real servers on 127.0.0.1 for the runwright-requests tests.

`http_server`: a small threaded stdlib HTTP server whose routes answer scripted replies
(in order, the last one repeating) and record every request. `s3`: moto's standalone S3
server on a free loopback port, with a fresh bucket per test.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from botocore.config import Config

AWS_KEY_ID = "AKIATESTRUNWRIGHT"
AWS_SECRET = "aws-secret-Zq8LmN4v"


@dataclass
class Reply:
    """One scripted answer. `chunks` streams a large body; `drop_after` cuts it short."""

    status: int = 200
    json: Any = None
    body: bytes | str = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    chunks: Callable[[], Iterable[bytes]] | None = None
    length: int | None = None
    drop_after: int | None = None


@dataclass
class Seen:
    """A request as the server received it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode())


Route = Callable[[Seen], Reply] | list[Reply]


class LocalHttpServer:
    """A ThreadingHTTPServer on 127.0.0.1 with scripted routes."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Route] = {}
        self.requests: list[Seen] = []
        self._calls: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()
        self.stopping = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep pytest output clean
                pass

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                size = int(self.headers.get("Content-Length") or 0)
                seen = Seen(
                    method=self.command,
                    path=parts.path,
                    query=parse_qs(parts.query),
                    headers={k: v for k, v in self.headers.items()},
                    body=self.rfile.read(size) if size else b"",
                )
                reply = server._reply_for(seen)
                if reply.delay and server.stopping.wait(reply.delay):
                    return
                self._send(reply)

            def _send(self, reply: Reply) -> None:
                headers = dict(reply.headers)
                if reply.chunks is not None:
                    self.send_response(reply.status)
                    headers.setdefault("Content-Type", "application/json")
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(reply.length))
                    self.end_headers()
                    sent = 0
                    for chunk in reply.chunks():
                        if reply.drop_after is not None and sent + len(chunk) > reply.drop_after:
                            self.wfile.write(chunk[: reply.drop_after - sent])
                            self.wfile.flush()
                            self.close_connection = True
                            return
                        self.wfile.write(chunk)
                        sent += len(chunk)
                    return
                if reply.json is not None:
                    payload = json.dumps(reply.json).encode()
                    headers.setdefault("Content-Type", "application/json")
                else:
                    payload = reply.body.encode() if isinstance(reply.body, str) else reply.body
                    headers.setdefault("Content-Type", "text/plain; charset=utf-8")
                self.send_response(reply.status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def route(self, path: str, *replies: Reply | Callable[[Seen], Reply], method: str = "GET"):
        """Answer `method path` with `replies` in order (the last repeats), or a function."""
        if len(replies) == 1 and callable(replies[0]) and not isinstance(replies[0], Reply):
            self.routes[(method, path)] = replies[0]
        else:
            self.routes[(method, path)] = list(replies)

    def seen(self, path: str) -> list[Seen]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def _reply_for(self, seen: Seen) -> Reply:
        key = (seen.method, seen.path)
        with self._lock:
            self.requests.append(seen)
            count = self._calls.get(key, 0)
            self._calls[key] = count + 1
        route = self.routes.get(key)
        if route is None:
            return Reply(status=404, body=f"no route for {seen.method} {seen.path}")
        if callable(route):
            return route(seen)
        return route[min(count, len(route) - 1)]

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def http_server() -> Iterator[LocalHttpServer]:
    server = LocalHttpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def trace_lines() -> list[str]:
    """A `trace` callable's sink: tests pass `trace=trace_lines.append`."""
    return []


@dataclass
class S3Fixture:
    endpoint: str
    bucket: str
    client: Any

    @property
    def aws(self) -> dict[str, Any]:
        """The `with:` arguments that point a task at this S3 endpoint."""
        return {
            "aws_access_client_id": AWS_KEY_ID,
            "aws_access_client_secret": AWS_SECRET,
            "aws_endpoint_url": self.endpoint,
            "aws_region": "us-east-1",
        }

    def keys(self, prefix: str = "") -> list[str]:
        listing = self.client.list_objects_v2(Bucket=self.bucket, Prefix=prefix)
        return [item["Key"] for item in listing.get("Contents", [])]

    def read(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def pending_uploads(self) -> list[str]:
        listing = self.client.list_multipart_uploads(Bucket=self.bucket)
        return [upload["Key"] for upload in listing.get("Uploads", [])]


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(moto_endpoint: str) -> S3Fixture:
    client = boto3.session.Session(
        aws_access_key_id=AWS_KEY_ID, aws_secret_access_key=AWS_SECRET, region_name="us-east-1"
    ).client(
        "s3",
        endpoint_url=moto_endpoint,
        config=Config(s3={"addressing_style": "path"}, request_checksum_calculation="when_required"),
    )
    bucket = f"landing-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    return S3Fixture(endpoint=moto_endpoint, bucket=bucket, client=client)


@pytest.fixture
def reply() -> type[Reply]:
    """The scripted-answer class, for `http_server.route(path, reply(status=500), ...)`."""
    return Reply


@pytest.fixture
def unused_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
