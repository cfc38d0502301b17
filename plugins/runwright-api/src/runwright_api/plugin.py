"""The ``runwright`` plugin: contributes ``runwright serve`` to the command line.

Imported whenever runwright loads its plugins, so it imports nothing heavy at module level.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Any

from runwright import hookimpl

TOKEN_ENV = "RUNWRIGHT_API_TOKEN"


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve_command() -> Any:
    """The ``serve`` command; typer is imported here, when the command line is being built,
    not when a library user's process loads its plugins."""
    import typer

    def serve(
        host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (loopback by default)."),
        port: int = typer.Option(8000, "--port", help="TCP port (0 picks a free one)."),
        conf: Path | None = typer.Option(
            None, "--conf", "-c", help="Conf path (default: $RUNWRIGHT_CONF or ./conf)."
        ),
        scheduler: bool = typer.Option(False, "--scheduler", help="Also run the scheduler in this process."),
        grace_seconds: float = typer.Option(
            30.0, "--grace-seconds", help="On SIGTERM, how long running workflows may finish before cancel."
        ),
        workers: int = typer.Option(
            1,
            "--workers",
            min=0,
            max=64,
            help="Run workflows in this many worker processes (0: on the server's own threads).",
        ),
    ) -> None:
        """Serve the workflow API (/api/v1, OpenAPI at /docs) and the observe pages (/).

        Set RUNWRIGHT_API_TOKEN to require `Authorization: Bearer <token>`; a host other than
        loopback is refused without it.
        """
        token = os.environ.get(TOKEN_ENV) or None
        if not is_loopback(host) and token is None:
            typer.echo(
                f"error: refusing to listen on non-loopback host '{host}' without {TOKEN_ENV} "
                "(set a token, or use --host 127.0.0.1)",
                err=True,
            )
            raise typer.Exit(2)
        from runwright_api.server import run_server

        run_server(
            host=host,
            port=port,
            conf=conf,
            scheduler=scheduler,
            grace_seconds=grace_seconds,
            token=token,
            workers=workers,
        )

    return serve


@hookimpl
def register_cli_commands(app: Any) -> None:
    app.command(name="serve")(serve_command())
