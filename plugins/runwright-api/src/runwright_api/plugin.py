"""The ``runwright`` plugin: contributes ``runwright serve`` to the command line.

Imported whenever runwright loads its plugins, so it imports nothing heavy at module level.
"""

from __future__ import annotations

import os
from typing import Any

from runwright import hookimpl

TOKEN_ENV = "RUNWRIGHT_API_TOKEN"


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve_command() -> Any:
    """The ``serve`` command; click is imported here, when the command line is being built,
    not when a library user's process loads its plugins. ``--conf`` is read as text and made a
    path when the command runs: ``runwright --help`` builds this command without :mod:`pathlib`."""
    import click

    @click.command("serve")
    @click.option(
        "--host", default="127.0.0.1", metavar="HOST", help="Address to listen on (loopback by default)."
    )
    @click.option("--port", type=int, default=8000, metavar="PORT", help="TCP port (0 picks a free one).")
    @click.option(
        "--conf",
        "-c",
        type=click.Path(),
        help="Conf path (default: $RUNWRIGHT_CONF or ./conf).",
    )
    @click.option("--scheduler", is_flag=True, help="Also run the scheduler in this process.")
    @click.option(
        "--grace-seconds",
        type=float,
        metavar="SECONDS",
        default=30.0,
        help="On SIGTERM, how long running workflows may finish before cancel.",
    )
    @click.option(
        "--workers",
        type=click.IntRange(0, 64),
        metavar="N",
        default=1,
        help="Run workflows in this many worker processes (0: on the server's own threads).",
    )
    @click.option(
        "--allow-host",
        multiple=True,
        metavar="HOST",
        help="Another name this server is reached by (a reverse proxy's); repeatable. "
        "Requests whose Host header names anything else are refused.",
    )
    @click.option(
        "--no-token",
        is_flag=True,
        help="Loopback only: serve without a token (any program on this machine can start workflows).",
    )
    @click.option(
        "--session-seconds",
        type=click.IntRange(min=1),
        metavar="SECONDS",
        default=12 * 3600,
        help="How long a sign-in in the browser lasts.",
    )
    def serve(
        host: str,
        port: int,
        conf: str | None,
        scheduler: bool,
        grace_seconds: float,
        workers: int,
        allow_host: tuple[str, ...],
        no_token: bool,
        session_seconds: int,
    ) -> None:
        """Serve the workflow API (/api/v1, OpenAPI at /docs) and the observe pages (/).

        Every request needs a token (`Authorization: Bearer <token>`, or a browser session from
        /login): RUNWRIGHT_API_TOKEN (at least 16 characters) if set, else a new token made at
        start and printed once in a sign-in link. A host other than loopback needs
        RUNWRIGHT_API_TOKEN.
        """
        from pathlib import Path

        from runwright_api.sessions import TokenTooShort, check_token_length, new_token

        token = os.environ.get(TOKEN_ENV) or None
        problem = ""
        if token is not None:
            try:
                check_token_length(token, TOKEN_ENV)
            except TokenTooShort as exc:
                problem = str(exc)
        if no_token and token is not None:
            problem = f"--no-token and {TOKEN_ENV} contradict each other; drop one"
        elif no_token and not is_loopback(host):
            problem = f"--no-token is only for a loopback host, not '{host}'"
        elif not is_loopback(host) and token is None:
            problem = (
                f"refusing to listen on non-loopback host '{host}' without {TOKEN_ENV} "
                "(set a token, or use --host 127.0.0.1)"
            )
        if problem:
            click.echo(f"error: {problem}", err=True)
            raise click.exceptions.Exit(2)
        generated = token is None and not no_token
        from runwright.heap import restart_with_thread_cache

        # once, with glibc's per-thread caches off; the workers inherit it (runwright/heap.py)
        restart_with_thread_cache(children_inherit=workers > 0)
        from runwright_api.server import run_server

        run_server(
            host=host,
            port=port,
            conf=Path(conf) if conf is not None else None,
            scheduler=scheduler,
            grace_seconds=grace_seconds,
            token=new_token() if generated else token,
            token_generated=generated,
            workers=workers,
            allowed_hosts=list(allow_host),
            session_seconds=session_seconds,
        )

    return serve


@hookimpl
def register_cli_commands(app: Any) -> None:
    app.add_command(serve_command())
