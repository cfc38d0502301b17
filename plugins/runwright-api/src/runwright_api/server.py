"""Run the app with uvicorn; SIGTERM stops taking requests, then the service's grace period."""

from __future__ import annotations

import gc
from pathlib import Path

import uvicorn
from runwright.console import write_unmasked
from runwright.heap import limit_malloc_arenas

from runwright_api.app import create_app
from runwright_api.service import RunService
from runwright_api.sessions import SESSION_SECONDS


def sign_in_line(base: str, token: str | None, generated: bool) -> str:
    """How to get in, printed once before the banner (a generated token appears nowhere else)."""
    if token is None:
        return "runwright: no token (--no-token): any program on this machine can use this server"
    if generated:
        return (
            f"runwright: sign in with {base}/login?token={token} "
            "(a new token each start; set RUNWRIGHT_API_TOKEN to keep one)"
        )
    return f"runwright: sign in at {base}/login with RUNWRIGHT_API_TOKEN"


def run_server(
    *,
    host: str,
    port: int,
    conf: Path | None,
    scheduler: bool,
    grace_seconds: float,
    token: str | None,
    token_generated: bool = False,
    workers: int = 0,
    allowed_hosts: list[str] | None = None,
    session_seconds: float = SESSION_SECONDS,
) -> None:
    limit_malloc_arenas()  # before any thread: a server runs for months (runwright/heap.py)
    service = RunService(conf, grace_seconds=grace_seconds, workers=workers)
    app = create_app(
        service,
        token=token,
        scheduler=scheduler,
        bind_host=host,
        allowed_hosts=allowed_hosts or (),
        session_seconds=session_seconds,
    )
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        timeout_graceful_shutdown=5,  # open SSE streams end when the service stops
        server_header=False,
    )
    server = uvicorn.Server(config)
    original = server.startup

    async def startup(sockets=None) -> None:  # print the bound address (port 0 picks one)
        await original(sockets=sockets)
        # what start-up built (modules, routes, models) lives as long as the server: out of the
        # collector's sight, a full collection under load scans only what requests allocate
        gc.collect()
        gc.freeze()
        for srv in server.servers:
            for sock in srv.sockets:
                address = sock.getsockname()
                where = (
                    f"runs in {workers} worker process{'es' if workers > 1 else ''}"
                    if workers
                    else "runs on the server's threads"
                )
                shown = f"[{address[0]}]" if ":" in address[0] else address[0]
                base = f"http://{shown}:{address[1]}"
                write_unmasked(sign_in_line(base, token, token_generated))  # the token is a secret
                print(f"runwright serving on {base} ({where})", flush=True)

    server.startup = startup  # type: ignore[method-assign]
    server.run()
