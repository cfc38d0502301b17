"""Run the app with uvicorn; SIGTERM stops taking requests, then the service's grace period."""

from __future__ import annotations

import gc
from pathlib import Path

import uvicorn

from runwright_api.app import create_app
from runwright_api.service import RunService


def run_server(
    *,
    host: str,
    port: int,
    conf: Path | None,
    scheduler: bool,
    grace_seconds: float,
    token: str | None,
    workers: int = 0,
) -> None:
    service = RunService(conf, grace_seconds=grace_seconds, workers=workers)
    app = create_app(service, token=token, scheduler=scheduler)
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
                print(f"runwright serving on http://{address[0]}:{address[1]} ({where})", flush=True)

    server.startup = startup  # type: ignore[method-assign]
    server.run()
