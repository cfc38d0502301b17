"""Pauses and the runs list's filters (issue 26), against every audit store (file, SQLite,
PostgreSQL): the same answers from each, the SQL stores filtering in their queries."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

import pytest
from runwright.audit import AuditBackend, ReleaseStatus, RunQuery

from tests.audit.conftest import BASE_TIME, hours, make_record


def test_a_pause_is_kept_until_unpaused_and_seen_by_every_handle(
    backend: AuditBackend, open_backend: Callable[[str], AuditBackend], audit_url: str
) -> None:
    assert backend.paused() == {}
    assert backend.pause("daily-sales", by="ann@host", at=BASE_TIME) is True
    assert backend.pause("daily-sales", by="bob@host", at=BASE_TIME + hours(1)) is False  # the first stays
    other = open_backend(audit_url)  # another process's handle on the same store
    pauses = other.paused()
    assert list(pauses) == ["daily-sales"]
    assert pauses["daily-sales"].by == "ann@host"
    assert pauses["daily-sales"].paused_at == BASE_TIME
    assert other.unpause("daily-sales") is True
    assert backend.unpause("daily-sales") is False
    assert backend.paused() == {}
    assert backend.pause("daily-sales", by="bob@host", at=BASE_TIME + hours(2)) is True
    assert backend.paused()["daily-sales"].by == "bob@host"


def test_pausing_one_workflow_leaves_the_others(backend: AuditBackend) -> None:
    assert backend.pause("a", by="x", at=BASE_TIME) and backend.pause("b/c d", by="x", at=BASE_TIME)
    assert sorted(backend.paused()) == ["a", "b/c d"]
    assert backend.unpause("a")
    assert sorted(backend.paused()) == ["b/c d"]


def test_racing_pauses_have_one_winner(backend: AuditBackend) -> None:
    won: list[bool] = []
    barrier = threading.Barrier(8)

    def pause(n: int) -> None:
        barrier.wait(timeout=30)
        won.append(backend.pause("w", by=f"user{n}", at=BASE_TIME))

    threads = [threading.Thread(target=pause, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(won) == [False] * 7 + [True]


def seeded(backend: AuditBackend) -> dict[str, object]:
    """Six runs of two workflows, with tags, labels, params and errors to filter on."""
    runs = {
        "a1": make_record("sales", BASE_TIME, tags=["finance", "daily"], labels={"team": "finance"},
                          params={"region": "Zürich"}, started=BASE_TIME + hours(1)),
        "a2": make_record("sales", BASE_TIME + hours(24), tags=["finance", "daily"],
                          labels={"team": "ops"}, status=ReleaseStatus.FAILED,
                          errors=[{"name": "ValueError", "message": "bad row 100%_done"}],
                          started=BASE_TIME + hours(25)),
        "a3": make_record("sales", BASE_TIME + hours(48), tags=["finance", "daily"],
                          status=ReleaseStatus.SUCCESS, started=BASE_TIME + hours(49)),
        "b1": make_record("stock", BASE_TIME, tags=["daily"], labels={"team": "finance", "env": "prod"},
                          params={"quote": 'say "hi"'}, started=BASE_TIME + hours(2)),
        "b2": make_record("stock", BASE_TIME + hours(24), status=ReleaseStatus.SUCCESS,
                          started=BASE_TIME + hours(26), run_id="special-RUN-42"),
        "b3": make_record("stock", BASE_TIME + hours(48), status=ReleaseStatus.FAILED,
                          errors=[{"name": "Crashed", "message": "process is gone"}],
                          started=BASE_TIME + hours(50)),
    }  # fmt: skip
    for record in runs.values():
        assert backend.claim(record)
    return runs


def names(backend: AuditBackend, runs: dict[str, object], **query: object) -> list[str]:
    by_id = {record.run_id: name for name, record in runs.items()}  # type: ignore[attr-defined]
    return [by_id[r.run_id] for r in backend.find(RunQuery(**query))]


def test_find_filters_by_each_field_and_all_together(backend: AuditBackend) -> None:
    runs = seeded(backend)
    assert names(backend, runs) == ["b3", "a3", "b2", "a2", "b1", "a1"]  # newest started first
    assert names(backend, runs, workflow="sales") == ["a3", "a2", "a1"]
    assert names(backend, runs, status=ReleaseStatus.FAILED) == ["b3", "a2"]
    assert names(backend, runs, started_from=BASE_TIME + hours(2), started_to=BASE_TIME + hours(26)) == [
        "a2",
        "b1",
    ]  # from is inclusive, to exclusive
    assert names(backend, runs, tags=("daily",)) == ["a3", "a2", "b1", "a1"]
    assert names(backend, runs, tags=("daily", "finance")) == ["a3", "a2", "a1"]
    assert names(backend, runs, tags=("weekly",)) == []
    assert names(backend, runs, labels=(("team", "finance"),)) == ["b1", "a1"]
    assert names(backend, runs, labels=(("team", "finance"), ("env", "prod"))) == ["b1"]
    assert names(backend, runs, labels=(("team", "fin"),)) == []
    assert names(backend, runs, workflow="stock", status=ReleaseStatus.FAILED, tags=()) == ["b3"]
    assert names(backend, runs, workflow="sales", labels=(("team", "ops"),), text="bad row") == ["a2"]


def test_text_is_found_in_run_ids_params_and_errors(backend: AuditBackend) -> None:
    runs = seeded(backend)
    assert names(backend, runs, text="run-42") == ["b2"]  # run id, any ASCII case
    assert names(backend, runs, text="BAD ROW") == ["a2"]  # an error's message
    assert names(backend, runs, text="crashed") == ["b3"]  # an error's name
    assert names(backend, runs, text="Zürich") == ["a1"]  # a param's value, not ASCII
    assert names(backend, runs, text='say "hi"') == ["b1"]  # quotes, as typed
    assert names(backend, runs, text="100%_") == ["a2"]  # % and _ are themselves, not wildcards
    assert names(backend, runs, text="0%_d") == ["a2"]
    assert names(backend, runs, text="%") == ["a2"]
    assert names(backend, runs, text="_x") == []
    assert names(backend, runs, text="nowhere") == []


def test_pages_of_a_query_are_stable_while_runs_are_added(backend: AuditBackend) -> None:
    for n in range(7):
        assert backend.claim(make_record("w", BASE_TIME + hours(n), tags=["t"], started=BASE_TIME + hours(n)))
        assert backend.claim(make_record("other", BASE_TIME + hours(n), started=BASE_TIME + hours(n)))
    query = RunQuery(tags=("t",))
    seen: list[str] = []
    after = None
    for page_number in range(10):
        page = backend.find(query, limit=3, after=after)
        if not page:
            break
        seen += [r.run_id for r in page]
        after = page[-1].list_position
        # a new run arrives between pages (newest of all): it never shifts the pages still to read
        newer = make_record(
            "w", BASE_TIME + hours(100 + page_number), tags=["t"], started=BASE_TIME + hours(100)
        )
        assert backend.claim(newer)
    assert len(seen) == len(set(seen)) == 7
    assert [r.run_id for r in backend.find(query, limit=0)] == []


def test_records_keep_labels_tags_and_origin(backend: AuditBackend) -> None:
    record = make_record(labels={"team": "finance", "k.8s/x": ""}, tags=["a", "b"], origin="api")
    assert backend.claim(record)
    assert backend.get(record.run_id) == record
    finished = record.model_copy(
        update={"status": ReleaseStatus.SUCCESS, "ended": record.started + timedelta(seconds=1)}
    )
    backend.update(finished)
    stored = backend.get(record.run_id)
    assert stored is not None and (stored.labels, stored.tags, stored.origin) == (
        record.labels,
        ["a", "b"],
        "api",
    )
    assert backend.list() == [finished]


@pytest.mark.parametrize("bad", [{"limit": -1}])
def test_find_refuses_a_negative_limit(backend: AuditBackend, bad: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        backend.find(RunQuery(), **bad)


OLD_SQLITE_SCHEMA = """
CREATE TABLE releases (
    workflow TEXT NOT NULL, release TEXT NOT NULL, attempt INTEGER NOT NULL,
    run_id TEXT NOT NULL UNIQUE, type TEXT NOT NULL, parent_run_id TEXT, status TEXT NOT NULL,
    params TEXT NOT NULL, context TEXT NOT NULL, errors TEXT NOT NULL, started TEXT NOT NULL,
    ended TEXT, host TEXT NOT NULL, pid INTEGER NOT NULL, heartbeat TEXT NOT NULL,
    definition_hash TEXT NOT NULL, secret_params TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (workflow, release, attempt)
);
INSERT INTO releases VALUES ('old', '2024-05-01T00:00:00.000000+00:00', 1, 'run-old', 'scheduled',
    NULL, 'SUCCESS', '{}', '{}', '[]', '2024-05-01T00:00:01.000000+00:00', NULL, 'h', 1,
    '2024-05-01T00:00:01.000000+00:00', '', '{}');
"""


def test_an_sqlite_store_of_an_earlier_version_gains_labels_tags_and_pauses(
    tmp_path, open_backend: Callable[[str], AuditBackend]
) -> None:
    import sqlite3

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as connection:
        connection.executescript(OLD_SQLITE_SCHEMA)
    backend = open_backend(f"sqlite:///{path}")
    [old] = backend.find(RunQuery(workflow="old"))
    assert (old.labels, old.tags, old.origin, old.how_started) == ({}, [], None, "schedule")
    assert backend.find(RunQuery(tags=("x",))) == [] and backend.pause("old", by="me", at=BASE_TIME)


def test_sqlite_filters_in_its_query_not_after_reading(tmp_path, open_backend) -> None:
    """The statements SQLite runs for a filtered page name every filter and read one page."""
    backend = open_backend(f"sqlite:///{tmp_path / 'audit.db'}")
    for n in range(30):
        assert backend.claim(make_record("w", BASE_TIME + hours(n), tags=["t"] if n % 2 else []))
    statements: list[str] = []
    with backend.using() as connection:  # this thread's next use takes it again (last in, first out)
        connection.set_trace_callback(statements.append)
    page = backend.find(RunQuery(workflow="w", tags=("t",), labels=(("a", "b"),), text="x"), limit=5)
    assert page == []
    [select] = [s for s in statements if s.startswith("SELECT")]
    for part in (
        "workflow = 'w'",
        "json_each(releases.tags)",
        "json_each(releases.labels)",
        "LIKE",
        "LIMIT 5",
    ):
        assert part in select, select
    statements.clear()
    assert len(backend.find(RunQuery(tags=("t",)), limit=4)) == 4
    [select] = [s for s in statements if s.startswith("SELECT")]
    assert "LIMIT 4" in select
