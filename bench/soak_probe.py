"""Where does a soaked server's memory go? Objects, malloc and SQLite, read inside the processes.

    uv run python bench/soak_probe.py                       # 30,000 triggers, readings from 10,000
    uv run python bench/soak_probe.py --triggers 12000 --warm-up 4000 --trace

The app runs on uvicorn in a thread of this process with ``--workers`` worker processes (as
``runwright serve``), SQLite store; the load comes from a child process (8 clients, rounds of
500, each round waited out), so this process's figures are the server's own. After the warm-up
and at the end, each process (this one; the workers on a signal) reads:

- ``rss``: resident size; ``used`` / ``free`` / ``arena``: glibc's ``mallinfo2()`` (bytes in
  use, free bytes malloc keeps, its heaps); ``sqlite``: ``sqlite3_memory_used()``;
- the Python types whose live count grew (garbage collector), with ``--trace`` what
  ``tracemalloc`` (started after the warm-up) finds still allocated, by traceback;
- the resident size after ``malloc_trim(0)``: what malloc held free and gave back.

Linux and glibc only (``/proc``, ``mallinfo2``, ``malloc_trim``). Figures: docs/benchmarks.md, "Soak".
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
import xml.etree.ElementTree as ElementTree  # imported here: not counted as growth between readings
from collections import Counter
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPORT = "RUNWRIGHT_SOAK_PROBE_REPORT"  # where a worker writes its reading
TRACE = "RUNWRIGHT_SOAK_PROBE_TRACE"
TRIGGERED = """
two:
  type: Workflow
  jobs:
    a: {stages: [{id: s, echo: x}]}
    b: {needs: [a], stages: [{id: t, echo: y}]}
"""
CLIENT = """
import asyncio, json, sys
sys.path.insert(0, sys.argv[4])
from api import Connection

async def main(base, triggers, round_size):
    host, port = base.removeprefix("http://").split(":")
    body = json.dumps({"params": {}}).encode()
    sent = 0
    while sent < triggers:
        clients = [Connection(host, int(port)) for _ in range(8)]
        numbers = iter(range(round_size))
        async def client(connection):
            for _ in numbers:
                status, payload = await connection.request("POST", "/api/v1/workflows/two/runs", body)
                assert status == 202, payload
        await asyncio.gather(*(client(c) for c in clients))
        sent += round_size
        while b"runwright_active_runs 0" not in (await clients[0].request("GET", "/api/v1/metrics"))[1]:
            await asyncio.sleep(0.05)
        for connection in clients:
            connection.close()
        print(sent, flush=True)
        sys.stdin.readline()  # the probe has read its figures

asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
"""


class MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


LIBC = ctypes.CDLL(None)
LIBC.mallinfo2.restype = MallInfo2
LIBC.fopen.restype = ctypes.c_void_p
LIBC.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
LIBC.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
LIBC.fclose.argtypes = [ctypes.c_void_p]
SQLITE = ctypes.CDLL("libsqlite3.so.0")  # the library Python's sqlite3 module is linked to here
SQLITE.sqlite3_memory_used.restype = ctypes.c_int64


def rss_kib() -> int:
    status = Path("/proc/self/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))


#: A mapping of ``/proc/self/smaps``: an anonymous one's start address and size in KiB (and ""),
#: or (0, 0, name) for a named one (a file's segments and a growing ``[heap]`` are one each).
Mapping = tuple[int, int, str]


def resident_mappings() -> Counter[Mapping]:
    """Resident KiB of each mapping of this process (``/proc/self/smaps``)."""
    mappings: Counter[Mapping] = Counter()
    mapping: Mapping | None = None
    for line in Path("/proc/self/smaps").read_text().splitlines():
        fields = line.split()
        if "-" in fields[0] and len(fields) >= 5 and not fields[0].endswith(":"):  # a mapping's header
            start, end = (int(part, 16) for part in fields[0].split("-"))
            # a named mapping by its name alone: [heap] moves and grows, a file has several segments
            mapping = (0, 0, fields[5]) if len(fields) > 5 else (start, (end - start) // 1024, "")
        elif fields[0] == "Rss:" and mapping is not None:
            mappings[mapping] += int(fields[1])
    return mappings


def resident_by_mapping() -> Counter[str]:
    """Resident KiB by kind of mapping: thread stacks (8 MiB anonymous), pymalloc's arenas
    (1 MiB anonymous), malloc's heaps (``[heap]`` and the other anonymous mappings), and files
    (libraries, SQLite's shared memory)."""
    kinds: Counter[str] = Counter()
    for (_, size_kib, name), kib in resident_mappings().items():
        if name.startswith("["):
            kind = name
        elif name:
            kind = "files"
        elif size_kib == 8192:
            kind = "thread stacks"
        elif size_kib == 1024:
            kind = "pymalloc arenas"
        else:
            kind = "other anonymous (malloc)"
        kinds[kind] += kib
    return kinds


def mapping_label(mapping: Mapping) -> str:
    """A file mapping's file name; an anonymous one's size and start, to tell them apart."""
    start, size_kib, name = mapping
    return Path(name).name if name else f"anonymous {size_kib:,} KiB at {start:x}"


def reading() -> str:
    info = LIBC.mallinfo2()
    by_mapping = ", ".join(f"{kind} {kib:,}" for kind, kib in sorted(resident_by_mapping().items()) if kib)
    free = ", ".join(f"{band} {kib:,}" for band, kib in sorted(free_chunks_by_size().items()))
    return (
        f"free chunks KiB by size: {free}; "
        f"rss {rss_kib():,} KiB, malloc used {info.uordblks // 1024:,} free {info.fordblks // 1024:,} "
        f"arena {info.arena // 1024:,} mmapped {info.hblkhd // 1024:,}, sqlite {SQLITE.sqlite3_memory_used() // 1024:,} KiB, "
        f"{threading.active_count()} threads; resident KiB by mapping: {by_mapping}"
    )


def free_chunks_by_size() -> Counter[str]:
    """Free bytes malloc holds, by chunk size (glibc's ``malloc_info``, summed over its heaps):
    which sizes of freed memory pile up between two readings."""
    with tempfile.NamedTemporaryFile(suffix=".xml") as out:
        stream = LIBC.fopen(out.name.encode(), b"w")
        LIBC.malloc_info(0, stream)
        LIBC.fclose(stream)
        root = ElementTree.fromstring(Path(out.name).read_text())
    sizes: Counter[str] = Counter()
    for heap in root.iter("heap"):
        for size in heap.iter("size"):
            high = int(size.get("to", 0))
            band = "<=1K" if high <= 1024 else "<=8K" if high <= 8192 else "<=64K" if high <= 65536 else ">64K"
            sizes[band] += int(size.get("total", 0)) // 1024
    return sizes


def live_types() -> Counter[str]:
    gc.collect()
    return Counter(type(thing).__name__ for thing in gc.get_objects())


class Probe:
    """One process's readings: after the warm-up (:meth:`start`) and at the end (:meth:`report`)."""

    def __init__(self, label: str, trace: bool) -> None:
        self.label, self.trace = label, trace
        self.warm = ""
        self.types: Counter[str] = Counter()
        self.mappings: Counter[Mapping] = Counter()

    def start(self) -> None:
        self.types, self.warm, self.mappings = live_types(), reading(), resident_mappings()
        if self.trace:
            tracemalloc.start(25)

    def report(self) -> str:
        grown = live_types() - self.types
        lines = [f"{self.label} after the warm-up: {self.warm}", f"{self.label} at the end:     {reading()}"]
        lines.append(f"{self.label} types grown: {sorted(grown.items(), key=lambda kv: -kv[1])[:20]}")
        mappings = resident_mappings()
        mappings.subtract(self.mappings)
        grown = [(mapping_label(mapping), kib) for mapping, kib in mappings.most_common(10) if kib > 0]
        lines.append(f"{self.label} mappings grown (KiB): {grown}")
        names = Counter(thread.name.rstrip("0123456789_").removesuffix("-") for thread in threading.enumerate())
        lines.append(f"{self.label} threads by name: {sorted(names.items(), key=lambda kv: -kv[1])}")
        if tracemalloc.is_tracing():
            snapshot = tracemalloc.take_snapshot().filter_traces(
                [tracemalloc.Filter(False, tracemalloc.__file__)]
            )
            stats = snapshot.statistics("traceback")
            tracemalloc.stop()
            lines.append(f"{self.label} traced, still allocated: {sum(s.size for s in stats) // 1024:,} KiB")
            for stat in stats[:10]:
                lines.append(f"  {stat.size / 1024:.1f} KiB in {stat.count} blocks, allocated at:")
                lines += ["    " + line for line in stat.traceback.format()[-12:]]
        LIBC.malloc_trim(0)
        lines.append(f"{self.label} after malloc_trim(0): {reading()}")
        return "\n".join(lines)


if __name__ == "__mp_main__":  # a spawned worker process: readings on SIGUSR1 and SIGUSR2
    _worker_probe = Probe(f"worker {os.getpid()}", bool(os.environ.get(TRACE)))
    signal.signal(signal.SIGUSR1, lambda *_: _worker_probe.start())
    signal.signal(
        signal.SIGUSR2,
        lambda *_: Path(os.environ[REPORT], f"{os.getpid()}.txt").write_text(_worker_probe.report()),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--triggers", type=int, default=30_000)
    parser.add_argument("--warm-up", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--trace", action="store_true", help="tracemalloc from the warm-up (slow)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="runwright-soak-probe-"))
    (root / "conf").mkdir()
    (root / "conf" / "two.yml").write_text(TRIGGERED)
    (root / "reports").mkdir()
    os.environ.update(
        RUNWRIGHT_LOG_PATH=str(root / "logs"),
        RUNWRIGHT_AUDIT_URL=f"sqlite:///{root / 'audit.db'}",
        **{REPORT: str(root / "reports")},
    )
    if args.trace:
        os.environ[TRACE] = "1"
    from runwright.heap import limit_malloc_arenas

    limit_malloc_arenas()  # as `runwright serve` does first (its workers do it themselves)
    import uvicorn
    from runwright_api.app import create_app
    from runwright_api.service import RunService

    sys.path.insert(0, str(BENCH))
    from api import BENCH_TOKEN  # bench/api.py: the client sends it

    service = RunService(root / "conf", workers=args.workers)
    workers = [w.process.pid for w in service.workers.workers] if service.workers else []
    server = uvicorn.Server(uvicorn.Config(create_app(service, token=BENCH_TOKEN), log_level="warning"))
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    threading.Thread(target=server.run, kwargs={"sockets": [listening]}, daemon=True).start()
    deadline = time.monotonic() + 60
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    base = f"http://127.0.0.1:{listening.getsockname()[1]}"
    client = subprocess.Popen(
        [sys.executable, "-c", CLIENT, base, str(args.triggers), "500", str(BENCH)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert client.stdin is not None and client.stdout is not None
    probe = Probe("server", args.trace)
    try:
        for line in client.stdout:
            sent = int(line)
            if sent == args.warm_up:
                probe.start()
                for pid in workers:
                    os.kill(pid, signal.SIGUSR1)
            if sent % 5_000 == 0:
                print(f"{sent:,} triggers: server {reading()}", flush=True)
            client.stdin.write("\n")
            client.stdin.flush()
        client.wait(timeout=60)
        print(probe.report())
        for pid in workers:
            os.kill(pid, signal.SIGUSR2)
            report = root / "reports" / f"{pid}.txt"
            deadline = time.monotonic() + 120
            while not report.exists() and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(0.5)  # written in one call; let it finish
            print(report.read_text() if report.exists() else f"worker {pid}: no reading")
    finally:
        client.kill()
        server.should_exit = True
        service.shutdown(1)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
