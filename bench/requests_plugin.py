"""Benchmark: land a 15 MB JSON response in S3 with get-api-with-oauth-to-s3, per writing mode.

Everything runs on 127.0.0.1: a stdlib HTTP server serves the response and moto's standalone
S3 server receives it, both in this process. Each landing runs in a fresh subprocess that
measures only itself: once plain (wall time and RSS high-water mark above the baseline after
imports) and once under tracemalloc (peak of Python allocations). The goal is a peak below
3x the response size.

    uv run python bench/requests_plugin.py [--size-mb 15]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MIB = 1024 * 1024
GOAL_FACTOR = 3.0


def make_payload(size_bytes: int) -> tuple[bytes, int]:
    """A JSON list of nested records (the shape an open-data API returns) of ~size_bytes."""
    parts: list[str] = []
    total = 2
    index = 0
    while total < size_bytes:
        record = {
            "id": index,
            "pair": "USD-THB",
            "asat": "2024-01-01T00:00:00Z",
            "rate": {"bid": 35.1 + index % 7 / 100, "ask": 35.2, "source": {"name": "bench"}},
            "tags": ["fx", "daily"],
            "note": "x" * 120,
        }
        text = json.dumps(record)
        parts.append(text)
        total += len(text) + 1
        index += 1
    return ("[" + ",".join(parts) + "]").encode(), index


def serve(payload: bytes) -> ThreadingHTTPServer:
    """An HTTP server on a free loopback port answering every GET with `payload`."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            view = memoryview(payload)
            for start in range(0, len(view), 256 * 1024):
                self.wfile.write(view[start : start + 256 * 1024])

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def child(args: argparse.Namespace) -> None:
    """One measured landing; prints a JSON line for the parent."""
    import tracemalloc

    from runwright_requests.tasks import get_api_with_oauth_to_s3

    def rss(field: str) -> int:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
        return 0

    arguments = {
        "url": args.url,
        "aws_s3_path": f"{args.bucket}/bench/{args.mode}-{args.measure}",
        "writing_mode": args.mode,
        "aws_access_client_id": "AKIABENCH",
        "aws_access_client_secret": "bench-secret",
        "aws_endpoint_url": args.endpoint,
        "aws_region": "us-east-1",
    }
    # Imports are done before the baseline; the boto3 client set-up is part of every landing.
    baseline = rss("VmRSS")
    if args.measure == "tracemalloc":
        tracemalloc.start()
    started = time.perf_counter()
    outputs = get_api_with_oauth_to_s3(**arguments)
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] if args.measure == "tracemalloc" else 0
    print(
        json.dumps(
            {
                "seconds": seconds,
                "tracemalloc_peak": peak,
                "rss_delta": max(0, rss("VmHWM") - baseline),
                "records": outputs["records"],
                "bytes": outputs["bytes"],
                "response_bytes": outputs["response_bytes"],
            }
        )
    )


def measure(mode: str, how: str, url: str, endpoint: str, bucket: str) -> dict[str, Any]:
    command = [
        sys.executable,
        __file__,
        "--child",
        "--mode",
        mode,
        "--measure",
        how,
        "--url",
        url,
        "--endpoint",
        endpoint,
        "--bucket",
        bucket,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise SystemExit(f"landing ({mode}, {how}) failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=15.0)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=["raw", "flatten"], help=argparse.SUPPRESS)
    parser.add_argument("--measure", choices=["rss", "tracemalloc"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--endpoint", help=argparse.SUPPRESS)
    parser.add_argument("--bucket", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto logs every request

    payload, count = make_payload(int(args.size_mb * MIB))
    http = serve(payload)
    url = f"http://127.0.0.1:{http.server_address[1]}/rates"
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    bucket = f"bench-{uuid.uuid4().hex[:10]}"
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="AKIABENCH",
        aws_secret_access_key="bench-secret",
    ).create_bucket(Bucket=bucket)
    size_mb = len(payload) / MIB
    print(f"response: {size_mb:.1f} MiB of JSON, {count} records; goal: peak < {GOAL_FACTOR:g}x")
    header = (
        f"{'mode':<8} {'records':>8} {'S3 MiB':>7} {'seconds':>8} {'MiB/s':>7} "
        f"{'tracemalloc peak':>17} {'RSS peak':>9} {'goal':>5}"
    )
    print(header)
    print("-" * len(header))
    try:
        for mode in ("raw", "flatten"):
            plain = measure(mode, "rss", url, endpoint, bucket)
            traced = measure(mode, "tracemalloc", url, endpoint, bucket)
            assert plain["records"] == count, (plain["records"], count)
            peak = traced["tracemalloc_peak"]
            worst = max(peak, plain["rss_delta"])
            ok = "ok" if worst < GOAL_FACTOR * len(payload) else "MISS"
            print(
                f"{mode:<8} {plain['records']:>8} {plain['bytes'] / MIB:>7.1f} "
                f"{plain['seconds']:>8.2f} {size_mb / plain['seconds']:>7.1f} "
                f"{peak / MIB:>8.1f} MiB {peak / len(payload):>4.2f}x "
                f"{plain['rss_delta'] / MIB:>5.1f} MiB {ok:>5}"
            )
    finally:
        moto.stop()
        http.shutdown()


if __name__ == "__main__":
    main()
