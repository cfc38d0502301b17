"""Log search, the same in every store: SQLite (FTS5), PostgreSQL (tsvector), files (a scan)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from runwright.audit import AuditBackend, LogLine, log_lines_from_trace

from tests.audit.conftest import BASE_TIME, hours


def line(run_id: str, message: str, at: float, workflow: str = "daily-sales", **where: str) -> LogLine:
    return LogLine(run_id, workflow, BASE_TIME + hours(at), "log", message, **where)


def store_runs(backend: AuditBackend) -> None:
    backend.add_log_lines(
        "run-a",
        "daily-sales",
        [
            line("run-a", "loading 120 rows from orders", 1, job="load", stage="read"),
            line("run-a", "Connection REFUSED by db-primary", 2, job="load", stage="write"),
        ],
    )
    backend.add_log_lines(
        "run-b",
        "daily-sales",
        [
            line(
                "run-b",
                "connection refused again; no_marker-yet",
                5,
                job="load",
                strategy="os=linux",
                stage="write",
            )
        ],
    )
    backend.add_log_lines("run-c", "hourly", [line("run-c", "connection refused", 3, workflow="hourly")])


def test_every_word_any_case_newest_first(backend: AuditBackend) -> None:
    store_runs(backend)
    found = backend.search_logs(text="connection refused")
    assert [(f.run_id, f.time) for f in found] == [
        ("run-b", BASE_TIME + hours(5)),
        ("run-c", BASE_TIME + hours(3)),
        ("run-a", BASE_TIME + hours(2)),
    ]
    first = found[0]
    assert (first.workflow, first.job, first.strategy, first.stage, first.event) == (
        "daily-sales",
        "load",
        "os=linux",
        "write",
        "log",
    )
    assert first.time.utcoffset() == timedelta(0)
    assert [f.run_id for f in backend.search_logs("REFUSED db")] == ["run-a"]  # both words, whole
    assert backend.search_logs("refuse") == []  # a word is matched whole, not a prefix
    assert [f.message for f in backend.search_logs("marker yet")] == [
        "connection refused again; no_marker-yet"
    ]
    assert len(backend.search_logs("connection", limit=2)) == 2


def test_workflow_and_time_range(backend: AuditBackend) -> None:
    store_runs(backend)
    assert [f.run_id for f in backend.search_logs("connection", workflow="hourly")] == ["run-c"]
    in_range = backend.search_logs("connection", since=BASE_TIME + hours(2), until=BASE_TIME + hours(5))
    assert [f.run_id for f in in_range] == ["run-c", "run-a"]  # since is inclusive, until is not
    assert backend.search_logs("connection", workflow="nightly") == []


def test_search_text_is_data_never_query_syntax(backend: AuditBackend) -> None:
    store_runs(backend)
    assert [f.run_id for f in backend.search_logs('"orders" OR NOT* (rows) AND')] == []  # all words needed
    assert [f.run_id for f in backend.search_logs('rows" * -orders:')] == ["run-a"]
    with pytest.raises(ValueError, match="no words"):
        backend.search_logs(" *-- ")


def test_trace_events_become_lines_with_errors_searchable() -> None:
    events = [
        {
            "time": 1714521600.5,
            "run_id": "r1",
            "workflow": "w",
            "event": "run-start",
            "message": "workflow w",
        },
        {
            "time": 1714521601.0,
            "run_id": "r1",
            "workflow": "w",
            "event": "stage-start",
            "job": "j",
            "stage": "s",
        },
        {
            "time": 1714521602.0,
            "run_id": "r1",
            "workflow": "w",
            "event": "stage-end",
            "job": "j",
            "stage": "s",
            "status": "FAILED",
            "errors": [{"name": "StageError", "message": "exit 3"}],
        },
    ]
    lines = log_lines_from_trace(events)
    assert [(x.event, x.message) for x in lines] == [
        ("run-start", "workflow w"),
        ("stage-end", "StageError: exit 3"),
    ]
    assert lines[0].time == BASE_TIME + timedelta(seconds=0.5)
    assert len(log_lines_from_trace(events * 10, limit=5)) == 5


def test_the_file_store_scan_is_bounded_and_reads_the_newest_runs_first(
    open_backend, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file store has no index: a search reads at most MAX_SCANNED_LOG_LINES lines, the
    files of the runs that ended last first."""
    import os

    import runwright_audit_file.backend as file_backend

    backend = open_backend(f"file://{tmp_path / 'audits'}")
    for number, run in enumerate(("old", "middle", "new")):
        backend.add_log_lines(run, "w", [line(run, f"step {i} done", number * 10 + i, workflow="w") for i in range(10)])
        written = tmp_path / "audits" / "_logs" / "w" / f"{run}.jsonl"
        os.utime(written, (1_700_000_000 + number, 1_700_000_000 + number))  # ended in this order
    assert len(backend.search_logs("done", limit=100)) == 30
    monkeypatch.setattr(file_backend, "MAX_SCANNED_LOG_LINES", 15)
    found = backend.search_logs("done", limit=100)
    assert len(found) == 15
    assert {f.run_id for f in found} == {"new", "middle"} and [f.run_id for f in found[:10]] == ["new"] * 10


def test_sqlite_finds_the_same_when_a_search_matches_many_lines(
    open_backend, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past FEW_MATCHES matches SQLite walks the lines by time instead of sorting the matches:
    the same lines come back in the same order."""
    import runwright_audit_sqlite.backend as sqlite_backend

    monkeypatch.setattr(sqlite_backend, "FEW_MATCHES", 0)
    test_every_word_any_case_newest_first(open_backend(f"sqlite:///{tmp_path / 'a.db'}"))
    test_workflow_and_time_range(open_backend(f"sqlite:///{tmp_path / 'b.db'}"))
