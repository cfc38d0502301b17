"""A real ``runwright serve`` subprocess on 127.0.0.1 (a free port) over a small conf folder."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]

CONF = """
hello:
  type: Workflow
  desc: Greets someone a number of times.
  params:
    name: str
    times: {type: int, default: 1}
    day: {type: date, default: "2024-01-02"}
    colour: {type: choice, options: [red, green, blue], default: green}
  on:
    - cronjob: "0 6 * * *"
      timezone: Europe/Paris
  jobs:
    greet:
      stages:
        - id: say
          bash: 'echo "hello ${{ params.name }} x${{ params.times }} on ${{ params.day }} in ${{ params.colour }}"; echo "greeting=hi-${{ params.name }}" >> "$RUNWRIGHT_OUTPUT"'
    after:
      needs: [greet]
      stages:
        - id: done
          echo: finished

flaky:
  type: Workflow
  desc: Fails until the marker file exists.
  params:
    marker: str
  jobs:
    first:
      stages:
        - id: ok
          echo: first job is fine
    second:
      needs: [first]
      stages:
        - id: check
          bash: 'test -f "${{ params.marker }}" || { echo "no marker yet" >&2; exit 3; }'

slow:
  type: Workflow
  desc: Sleeps a long time (for cancel tests).
  params:
    seconds: {type: int, default: 60}
  jobs:
    wait:
      stages:
        - id: nap
          bash: 'echo "napping"; sleep ${{ params.seconds }}'

quick:
  type: Workflow
  desc: One stage.
  jobs:
    only:
      stages:
        - id: one
          echo: done

fanout:
  type: Workflow
  desc: A matrix job after a setup job.
  jobs:
    setup:
      stages:
        - {id: prep, echo: ready}
    build:
      needs: [setup]
      strategy:
        matrix: {os: [linux, mac], py: ["3.11", "3.12"]}
      stages:
        - id: show
          bash: 'echo "${{ matrix.os }}-${{ matrix.py }}"'

keyed:
  type: Workflow
  desc: A param whose default is a secret; fails until the marker file exists.
  params:
    key: {type: str, default: "${SERVICE_API_KEY}"}
    marker: str
  jobs:
    use:
      stages:
        - id: check
          bash: 'test "${{ params.key }}" = "s3cr3t-value-4242" && test -f "${{ params.marker }}"'

secretive:
  type: Workflow
  desc: Prints a secret from the environment.
  jobs:
    leak:
      stages:
        - id: print
          echo: "the key is ${SERVICE_API_KEY}"
"""

SECRET_VALUE = "s3cr3t-value-4242"


@dataclass
class Server:
    """A running server: its base URL, a client, and the folders it uses."""

    url: str
    process: subprocess.Popen[str]
    client: httpx.Client
    root: Path
    token: str | None = None
    banner: str = ""  # the line the server printed when it was ready
    login_url: str | None = None  # the sign-in link printed with a generated token
    printed: str = ""  # everything the server printed up to its banner

    def api(self, path: str) -> str:
        return f"{self.url}/api/v1{path}"

    def trigger(self, workflow: str, params: dict[str, Any] | None = None) -> str:
        response = self.client.post(self.api(f"/workflows/{workflow}/runs"), json={"params": params or {}})
        assert response.status_code == 202, response.text
        return response.json()["run_id"]

    def wait_status(self, run_id: str, wanted: Callable[[str], bool] = lambda s: s != "RUNNING", timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            document = self.client.get(self.api(f"/runs/{run_id}")).json()
            if wanted(document["status"]) or time.monotonic() > deadline:
                return document
            time.sleep(0.05)


def start_server(
    root: Path,
    token: str | None = None,
    extra_args: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
    conf_text: str = CONF,
) -> Server:
    conf = root / "conf"
    conf.mkdir(parents=True, exist_ok=True)
    (conf / "workflows.yml").write_text(conf_text, encoding="utf-8")
    full_env = dict(os.environ)
    full_env.update(
        {
            "RUNWRIGHT_AUDIT_URL": f"file://{root / 'audits'}",
            "RUNWRIGHT_LOG_PATH": str(root / "logs"),
            "SERVICE_API_KEY": SECRET_VALUE,
            "PYTHONUNBUFFERED": "1",
        }
    )
    full_env.pop("RUNWRIGHT_API_TOKEN", None)
    if token:
        full_env["RUNWRIGHT_API_TOKEN"] = token
    full_env.update(env or {})
    process = subprocess.Popen(
        [sys.executable, "-m", "runwright", "serve", "--port", "0", "--conf", str(conf), "--grace-seconds", "2", *extra_args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=full_env,
        cwd=root,
    )
    assert process.stdout is not None
    deadline = time.monotonic() + 90  # a loaded machine starts a worker process slowly
    url = None
    login_url = None
    seen: list[str] = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line)
        login = re.search(r"(http://127\.0\.0\.1:\d+/login\?token=([A-Za-z0-9_-]+))", line)
        if login:
            login_url, token = login.group(1), login.group(2)
        match = re.search(r"serving on (http://127\.0\.0\.1:\d+)", line)
        if match:
            url = match.group(1)
            banner = line.strip()
            break
    if url is None:
        process.kill()
        raise AssertionError("server did not start:\n" + "".join(seen) + (process.stdout.read() or ""))
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    client = httpx.Client(headers=headers, timeout=30)
    return Server(url, process, client, root, token, banner, login_url, "".join(seen))


def stop_server(server: Server) -> int:
    server.client.close()
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(timeout=10)
    return server.process.returncode


#: ``serve --workers N``: runs on the server's threads (0) or in a worker process (1).
WORKER_MODES = pytest.mark.parametrize("workers", [0, 1], ids=["threads", "workers"])


@pytest.fixture(scope="module", params=[0, 1], ids=["threads", "workers"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for a test module (starting one costs about a second), once running workflows
    on its own threads and once in a worker process: every behaviour holds in both."""
    running = start_server(tmp_path_factory.mktemp("api"), extra_args=("--workers", str(request.param)))
    yield running
    stop_server(running)


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(tmp_path_factory.mktemp("api-secured"), token="tok-" + "x" * 24)
    yield running
    stop_server(running)
