"""Benchmark: one page of the runs list (``AuditBackend.find``), filtered, on a store of N runs.

Fills a fresh SQLite store (and, with ``--file``, a file store) with N records in one
transaction (``claim_many``), spread over W workflows, a tag on half of them, a label on a
tenth, a failure with an error on one in twenty; then times pages of 50 newest-first records
for each filter the runs list offers (workflow, status, date range, tag, label, text) and the
second page by cursor. Prints milliseconds per page (median of repeats).

    uv run --no-sync python bench/runs_list.py [--runs 10000] [--workflows 20] [--file]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from runwright.audit import AuditBackend, ReleaseRecord, ReleaseStatus, RunQuery, make_audit_backend

START = datetime(2024, 1, 1, tzinfo=UTC)
REPEATS = 7
PAGE = 50


def records(count: int, workflows: int) -> list[ReleaseRecord]:
    made = []
    for n in range(count):
        failed = n % 20 == 0
        made.append(
            ReleaseRecord(
                workflow=f"wf-{n % workflows:03d}",
                release=START + timedelta(hours=n),
                run_id=f"run-{n:08d}",
                status=ReleaseStatus.FAILED if failed else ReleaseStatus.SUCCESS,
                started=START + timedelta(hours=n, seconds=5),
                ended=START + timedelta(hours=n, seconds=65),
                params={"region": f"region-{n % 7}", "day": (START + timedelta(hours=n)).date().isoformat()},
                errors=[{"name": "ValueError", "message": f"bad row {n}"}] if failed else [],
                tags=["finance"] if n % 2 else [],
                labels={"team": "ops"} if n % 10 == 0 else {},
            )
        )
    return made


def page_ms(backend: AuditBackend, query: RunQuery, second_page: bool = False) -> float:
    times = []
    for _ in range(REPEATS):
        began = time.perf_counter()
        page = backend.find(query, limit=PAGE + 1)
        if second_page and page:
            backend.find(query, limit=PAGE + 1, after=page[PAGE - 1].list_position)
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--workflows", type=int, default=20)
    parser.add_argument("--file", action="store_true", help="also the file store (reads every record)")
    options = parser.parse_args()
    middle = START + timedelta(hours=options.runs // 2)
    queries = {
        "newest (no filter)": RunQuery(),
        "workflow": RunQuery(workflow="wf-007"),
        "status FAILED": RunQuery(status=ReleaseStatus.FAILED),
        "date range (a week)": RunQuery(started_from=middle, started_to=middle + timedelta(days=7)),
        "tag": RunQuery(tags=("finance",)),
        "label": RunQuery(labels=(("team", "ops"),)),
        "text in errors": RunQuery(text="bad row 99"),
        "workflow + tag + text": RunQuery(workflow="wf-003", tags=("finance",), text="region-3"),
    }
    with tempfile.TemporaryDirectory() as folder:
        urls = {"sqlite": f"sqlite:///{Path(folder) / 'audit.db'}"}
        if options.file:
            urls["file"] = f"file://{Path(folder) / 'audits'}?fsync=0"
        made = records(options.runs, options.workflows)
        for kind, url in urls.items():
            backend = make_audit_backend(url)
            began = time.perf_counter()
            backend.claim_many(made)
            print(f"{kind}: {options.runs:,} runs written in {time.perf_counter() - began:.1f} s")
            for name, query in queries.items():
                print(f"  {name:<24} {page_ms(backend, query):8.2f} ms / page of {PAGE}")
            print(f"  {'tag, first two pages':<24} {page_ms(backend, queries['tag'], True):8.2f} ms")
            backend.close()


if __name__ == "__main__":
    main()
