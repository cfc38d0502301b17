"""Benchmark: release-record write and read rates of the installed audit backends.

For each backend (``file://``, ``sqlite://``), in a fresh temp folder, one process:

* writes N records, each one ``claim`` + ``update`` (what a run does at start and end);
* reads each record back with ``get(run_id)``;
* lists one workflow's records (``list(workflow=...)``) over W workflows, several times;
* lists the 20 newest records of the whole store (``list(limit=20)``).

Both backends make records durable (fsync / ``synchronous=FULL``), so the write rate depends on
the disk. Needs the plugins installed (``uv pip install -e plugins/runwright-audit-file
-e plugins/runwright-audit-sqlite``).

    uv run --no-sync python bench/audit_backends.py [--records 2000] [--workflows 10]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from runwright.audit import AuditBackend, ReleaseRecord, ReleaseStatus, make_audit_backend

FIRST_RELEASE = datetime(2024, 1, 1, tzinfo=UTC)
LIST_REPEATS = 5


@dataclass
class Rates:
    backend: str
    writes: float  # records per second, each = claim + update
    gets: float  # get(run_id) per second
    lists: float  # list(workflow=...) calls per second
    listed: float  # records returned per second by those calls
    newest: float  # list(limit=20) calls per second


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def make_records(count: int, workflows: int) -> list[ReleaseRecord]:
    """Records shaped like real ones: a few params, a small context, spread over workflows."""
    return [
        ReleaseRecord(
            workflow=f"workflow-{index % workflows:02d}",
            release=FIRST_RELEASE + timedelta(hours=index // workflows),
            run_id=f"bench-{index:07d}",
            params={"run-date": f"2024-01-{index % 28 + 1:02d}", "source": "sales", "limit": 1000},
            context={"jobs": {"extract": {"status": "SUCCESS", "outputs": {"rows": index}}}},
        )
        for index in range(count)
    ]


def measure(url: str, records: list[ReleaseRecord], workflows: int) -> Rates:
    backend: AuditBackend = make_audit_backend(url)
    finished = [r.model_copy(update={"status": ReleaseStatus.SUCCESS, "ended": r.started}) for r in records]

    def write() -> None:
        for record, done in zip(records, finished, strict=True):
            if not backend.claim(record):
                raise RuntimeError(f"{url}: claim of a fresh record failed")
            backend.update(done)

    def read() -> None:
        for record in records:
            if backend.get(record.run_id) is None:
                raise RuntimeError(f"{url}: record {record.run_id} not found")

    listed = 0

    def list_workflows() -> None:
        nonlocal listed
        for _ in range(LIST_REPEATS):
            for index in range(workflows):
                listed += len(backend.list(workflow=f"workflow-{index:02d}"))

    def list_newest() -> None:
        for _ in range(LIST_REPEATS):
            backend.list(limit=20)

    write_seconds = timed(write)
    read_seconds = timed(read)
    list_seconds = timed(list_workflows)
    newest_seconds = timed(list_newest)
    backend.close()
    if listed != len(records) * LIST_REPEATS:
        raise RuntimeError(
            f"{url}: listing returned {listed} records, expected {len(records) * LIST_REPEATS}"
        )
    return Rates(
        backend=url.split("://", 1)[0] + "://",
        writes=len(records) / write_seconds,
        gets=len(records) / read_seconds,
        lists=workflows * LIST_REPEATS / list_seconds,
        listed=listed / list_seconds,
        newest=LIST_REPEATS / newest_seconds,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--workflows", type=int, default=10)
    options = parser.parse_args()
    records = make_records(options.records, options.workflows)
    results = []
    with tempfile.TemporaryDirectory(prefix="audit-bench-") as folder:
        for url in (f"file://{Path(folder) / 'audits'}", f"sqlite:///{Path(folder) / 'audit.db'}"):
            results.append(measure(url, records, options.workflows))

    per_list = options.records // options.workflows
    print(f"{options.records} records, {options.workflows} workflows ({per_list} records per workflow list)")
    header = ("backend", "write rec/s", "get/s", "list(workflow)/s", "listed rec/s", "list(limit=20)/s")
    rows = [
        (
            rates.backend,
            *(
                f"{value:,.0f}"
                for value in (rates.writes, rates.gets, rates.lists, rates.listed, rates.newest)
            ),
        )
        for rates in results
    ]
    widths = [max(len(row[column]) for row in (header, *rows)) for column in range(len(header))]
    print("| " + " | ".join(name.ljust(width) for name, width in zip(header, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (width + 2) for width in widths) + "|")
    for row in rows:
        cells = [row[0].ljust(widths[0])] + [
            cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)
        ]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
