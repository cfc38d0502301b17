"""A real PostgreSQL server for tests: ``initdb`` + ``pg_ctl`` in a temporary directory, on 127.0.0.1.

PostgreSQL refuses to run as root, so when the tests run as root (CI does) the server runs as the
unprivileged ``nobody`` user through ``runuser``. ``.ci/run`` installs Debian's ``postgresql``
package when ``initdb`` is missing.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

SERVER_USER = "nobody"


def _binary(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if found is None:
        raise RuntimeError(f"PostgreSQL's {name} is not installed (apt-get install postgresql)")
    return found


def require_postgres_binaries() -> None:
    """Skip (outside CI) or fail (under ``CI=true``) with how to install PostgreSQL when it is missing.

    ``bash .ci/run`` installs Debian's ``postgresql`` when it runs as root; a developer without root
    still gets a green suite for everything else, never a silently green CI.
    """
    try:
        _binary("initdb")
    except RuntimeError as missing:
        message = f"{missing}; `bash .ci/run` installs it when run as root"
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(message)
        pytest.skip(message)


def _as_server_user(command: list[str]) -> list[str]:
    return ["runuser", "-u", SERVER_USER, "--", *command] if os.geteuid() == 0 else command


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PostgresServer:
    base: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql://runwright@127.0.0.1:{self.port}/postgres"

    def database_url(self, name: str) -> str:
        """A new, empty database on this server (one per test keeps tests apart)."""
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql://runwright@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        subprocess.run(
            _as_server_user([_binary("pg_ctl"), "-D", str(self.base / "data"), "-m", "immediate", "-w", "stop"]),
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(self.base, ignore_errors=True)


def start_postgres() -> PostgresServer:
    """initdb (trust auth, user ``runwright``) and start on a free loopback port; fsync off for speed."""
    base = Path(tempfile.mkdtemp(prefix="runwright-pg-"))
    if os.geteuid() == 0:
        shutil.chown(base, user=SERVER_USER)
    data = base / "data"
    subprocess.run(
        _as_server_user([_binary("initdb"), "-D", str(data), "-A", "trust", "-U", "runwright", "--no-sync", "-E", "UTF8"]),
        check=True,
        capture_output=True,
        timeout=120,
    )
    port = _free_port()
    options = f"-h 127.0.0.1 -p {port} -k {base} -F -c max_connections=400"
    subprocess.run(
        _as_server_user([_binary("pg_ctl"), "-D", str(data), "-o", options, "-l", str(base / "server.log"), "-w", "-t", "60", "start"]),
        check=True,
        capture_output=True,
        timeout=90,
    )
    return PostgresServer(base=base, port=port)
