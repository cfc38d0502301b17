"""Reading records keeps nothing of them once they are dropped (issue 30).

The file store parses each record with pydantic's JSON parser, whose default caches every short
string value it meets (run ids, timestamps, host names) in a process-wide table of 16,384
entries: a server reading records for months filled about 1.2 MB with the ids and times of old
runs. Records are parsed caching keys only (the same few field names).
"""

from __future__ import annotations

import gc
import pathlib
import tracemalloc
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from runwright.audit import AuditBackend

from tests.audit.conftest import BASE_TIME, make_record, url_for


def retained_by(work: Callable[[], None]) -> int:
    """Bytes allocated by the file store's code in ``work`` and still allocated after it.

    Only what the store's frames allocated counts: threads of other tests still winding down
    allocate meanwhile. pathlib interns each part of a path (the temp file of each write): as
    those come and go the interpreter's table of interned strings is resized once to their
    churn, then stays, so pathlib's own allocations are left out too."""
    import runwright_audit_file

    store_code = str(Path(runwright_audit_file.__file__).parent / "*")
    gc.collect()
    tracemalloc.start(64)
    try:
        before = tracemalloc.take_snapshot()
        work()
        gc.collect()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    counted = [
        tracemalloc.Filter(True, store_code, all_frames=True),
        tracemalloc.Filter(False, pathlib.__file__),
    ]
    differences = after.filter_traces(counted).compare_to(before.filter_traces(counted), "lineno")
    return sum(difference.size_diff for difference in differences)


def read_each(backend: AuditBackend, run_ids: list[str]) -> Callable[[], None]:
    def work() -> None:
        for run_id in run_ids:
            record = backend.get(run_id)
            assert record is not None and record.run_id == run_id

    return work


def test_reading_file_store_records_keeps_none_of_their_values(
    open_backend: Callable[[str], AuditBackend], tmp_path: Path
) -> None:
    backend = open_backend(url_for("file", tmp_path))
    run_ids = []
    for number in range(3_000):
        record = make_record(release=BASE_TIME + timedelta(minutes=number), run_id=f"soak-{number:020d}")
        assert backend.claim(record)
        run_ids.append(record.run_id)
    backend.get(run_ids[0])  # whatever a first read builds once (validators, path caches)
    retained = retained_by(read_each(backend, run_ids[1:]))
    # each record holds some ten distinct short strings; cached, 3,000 of them kept ~1 MB
    assert retained < 100_000, f"{retained:,} bytes kept after reading {len(run_ids) - 1:,} records"


def test_taking_file_store_leases_keeps_none_of_their_holders(
    open_backend: Callable[[str], AuditBackend], tmp_path: Path
) -> None:
    """Each take reads the resource's lease list from JSON; the holders of ended runs are not
    kept (a concurrency group sees a new holder per run)."""
    from runwright.audit import LeaseRequest, LeaseState

    backend = open_backend(url_for("file", tmp_path))

    def take_and_give_back(holders: list[str]) -> None:
        for holder in holders:
            request = LeaseRequest(
                resource="group:etl", holder=holder, capacity=1, run_id=holder, workflow="etl"
            )
            assert backend.acquire_lease(request, timedelta(seconds=60)) is LeaseState.HELD
            assert backend.list_leases("group:etl")[0].holder == holder
            assert backend.release_lease("group:etl", holder)

    take_and_give_back(["warm-up"])
    retained = retained_by(lambda: take_and_give_back([f"run-{number:020d}" for number in range(2_000)]))
    assert retained < 50_000, f"{retained:,} bytes kept after 2,000 holders took and gave back a lease"
