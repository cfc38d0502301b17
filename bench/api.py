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
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

CONF = """
one:
  type: Workflow
  jobs:
    only:
      stages:
        - {id: hello, echo: hello}
"""


def start(root: Path, audit: str) -> tuple[subprocess.Popen[str], str]:
    (root / "conf").mkdir()
    (root / "conf" / "one.yml").write_text(CONF)
    url = f"file://{root / 'audits'}" if audit == "file" else f"sqlite:///{root / 'audit.db'}"
    env = dict(os.environ, RUNWRIGHT_AUDIT_URL=url, RUNWRIGHT_LOG_PATH=str(root / "logs"), PYTHONUNBUFFERED="1")
    env.pop("RUNWRIGHT_API_TOKEN", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "runwright", "serve", "--port", "0", "--conf", str(root / "conf")],
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


async def hammer(clients: int, total: int, send) -> tuple[list[float], list[object], float]:
    """Run ``send`` ``total`` times from ``clients`` concurrent tasks; latencies in ms."""
    latencies: list[float] = []
    answers: list[object] = []
    counter = iter(range(total))

    async def client() -> None:
        for index in counter:
            started = time.perf_counter()
            answers.append(await send(index))
            latencies.append((time.perf_counter() - started) * 1000)

    began = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return latencies, answers, time.perf_counter() - began


async def measure(base: str, clients: int, total: int) -> None:
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as http:
        await http.get("/api/v1/healthz")

        async def trigger(_: int) -> str:
            response = await http.post("/api/v1/workflows/one/runs", json={"params": {}})
            assert response.status_code == 202, response.text
            return response.json()["run_id"]

        post_ms, run_ids, seconds = await hammer(clients, total, trigger)
        print(f"POST /runs      {total} triggers by {clients} clients in {seconds:.2f} s: {total / seconds:.0f} triggers/s")
        print(f"                latency p50 {statistics.median(post_ms):.1f} ms, p99 {percentile(post_ms, 0.99):.1f} ms")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            metrics = (await http.get("/api/v1/metrics")).text
            if "runwright_active_runs 0" in metrics:
                break
            await asyncio.sleep(0.2)

        async def read(index: int) -> int:
            response = await http.get(f"/api/v1/runs/{run_ids[index % len(run_ids)]}")
            assert response.status_code == 200
            return response.status_code

        get_ms, _, seconds = await hammer(clients, total, read)
        print(f"GET /runs/{{id}}  {total} reads in {seconds:.2f} s: {total / seconds:.0f} reads/s")
        print(f"                latency p50 {statistics.median(get_ms):.1f} ms, p99 {percentile(get_ms, 0.99):.1f} ms")
        finished = (await http.get("/api/v1/metrics")).text
        done = re.search(r'runwright_runs_total\{status="SUCCESS"\} (\d+)', finished)
        print(f"runs recorded SUCCESS: {done.group(1) if done else '?'} of {total}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--audit", choices=["file", "sqlite"], default="file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        process, base = start(Path(folder), args.audit)
        try:
            print(f"audit store: {args.audit}; server {base}")
            asyncio.run(measure(base, args.clients, args.requests))
        finally:
            process.terminate()
            process.wait(timeout=60)


if __name__ == "__main__":
    main()
