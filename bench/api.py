"""API benchmark: triggers per second and latency of the workflow server under 50 clients.

    uv run python bench/api.py                         # file audit store, 1,000 triggers
    uv run python bench/api.py --audit sqlite --requests 2000

Starts ``runwright serve`` in a subprocess on 127.0.0.1 with a 1-stage workflow, then 50
concurrent clients (one asyncio task each, keep-alive connections) send ``POST
/api/v1/workflows/one/runs`` until N runs were triggered, then ``GET /api/v1/runs/{id}`` N
times. Prints triggers/s and p50/p99 latency of both. Goals: 500 triggers/s, reads p99 < 100 ms.
The clients share the machine with the server (loopback), so figures are a lower bound.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONF = """
one:
  type: Workflow
  jobs:
    only:
      stages:
        - {id: hello, echo: hello}
"""


BENCH_TOKEN = "bench-token-" + "b" * 24


def start(root: Path, audit: str, workers: int = 0, conf: str = CONF) -> tuple[subprocess.Popen[str], str]:
    (root / "conf").mkdir()
    (root / "conf" / "one.yml").write_text(conf)
    url = f"file://{root / 'audits'}" if audit == "file" else f"sqlite:///{root / 'audit.db'}"
    env = dict(
        os.environ, RUNWRIGHT_AUDIT_URL=url, RUNWRIGHT_LOG_PATH=str(root / "logs"), PYTHONUNBUFFERED="1"
    )
    env["RUNWRIGHT_API_TOKEN"] = BENCH_TOKEN  # every request pays the bearer check, as deployed
    process = subprocess.Popen(
        [
            sys.executable, "-m", "runwright", "serve", "--port", "0", "--conf", str(root / "conf"),
            "--workers", str(workers),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=root,
    )
    assert process.stdout is not None
    for _ in range(50):
        line = process.stdout.readline()
        match = re.search(r"serving on (http://\S+)", line)
        if match:
            return process, match.group(1)
    process.kill()
    raise SystemExit("the server did not start")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


class Connection:
    """A minimal HTTP/1.1 keep-alive client on asyncio streams: cheap on CPU, so the figures
    measure the server rather than the load generator (which shares the machine)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Length: {len(body)}\r\n"
            f"Authorization: Bearer {BENCH_TOKEN}\r\n"
        )
        if body:
            head += "Content-Type: application/json\r\n"
        self.writer.write(head.encode() + b"\r\n" + body)
        status_line = await self.reader.readline()
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        payload = await self.reader.readexactly(length)
        return int(status_line.split()[1]), payload

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def hammer(connections: list[Connection], total: int, send) -> tuple[list[float], list[object], float]:
    """Run ``send(connection, index)`` ``total`` times, one task per connection; latencies in ms."""
    latencies: list[float] = []
    answers: list[object] = []
    counter = iter(range(total))

    async def client(connection: Connection) -> None:
        for index in counter:
            started = time.perf_counter()
            answers.append(await send(connection, index))
            latencies.append((time.perf_counter() - started) * 1000)

    began = time.perf_counter()
    await asyncio.gather(*(client(c) for c in connections))
    return latencies, answers, time.perf_counter() - began


def report(label: str, total: int, seconds: float, latencies: list[float], unit: str) -> None:
    print(f"{label:<16}{total} {unit} in {seconds:.2f} s: {total / seconds:.0f} {unit}/s")
    print(
        f"{'':<16}latency p50 {statistics.median(latencies):.1f} ms, p99 {percentile(latencies, 0.99):.1f} ms"
    )


async def measure(base: str, clients: int, total: int) -> None:
    host, port = base.removeprefix("http://").split(":")
    connections = [Connection(host, int(port)) for _ in range(clients)]
    trigger_body = json.dumps({"params": {}}).encode()

    async def trigger(connection: Connection, _: int) -> str:
        status, payload = await connection.request("POST", "/api/v1/workflows/one/runs", trigger_body)
        assert status == 202, payload
        return json.loads(payload)["run_id"]

    post_ms, run_ids, seconds = await hammer(connections, total, trigger)
    report("POST /runs", total, seconds, post_ms, "triggers")
    probe = connections[0]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        _, metrics = await probe.request("GET", "/api/v1/metrics")
        if b"runwright_active_runs 0" in metrics:
            break
        await asyncio.sleep(0.2)

    async def read(connection: Connection, index: int) -> int:
        status, payload = await connection.request("GET", f"/api/v1/runs/{run_ids[index % len(run_ids)]}")
        assert status == 200, payload
        return status

    get_ms, _, seconds = await hammer(connections, total, read)
    report("GET /runs/{id}", total, seconds, get_ms, "reads")
    _, metrics = await probe.request("GET", "/api/v1/metrics")
    done = re.search(rb'runwright_runs_total\{status="SUCCESS"\} (\d+)', metrics)
    print(f"runs recorded SUCCESS: {done.group(1).decode() if done else '?'} of {total}")
    for connection in connections:
        connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--audit", choices=["file", "sqlite"], default="file")
    parser.add_argument("--workers", type=int, default=1, help="serve --workers N (0: runs on the server's threads)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        process, base = start(Path(folder), args.audit, args.workers)
        try:
            print(f"audit store: {args.audit}; workers: {args.workers}; server {base}")
            try:  # the clients' own CPU comes off the server's share of the 2 cores: uvloop's is smaller
                import uvloop

                uvloop.run(measure(base, args.clients, args.requests))
            except ImportError:
                asyncio.run(measure(base, args.clients, args.requests))
        finally:
            process.terminate()
            process.wait(timeout=60)


if __name__ == "__main__":
    main()
