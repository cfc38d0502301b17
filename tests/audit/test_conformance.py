"""What every audit backend must do, run against each installed one (file://, sqlite://)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from runwright.audit import AuditBackend, ReleaseStatus, ReleaseType

from tests.audit.conftest import BASE_TIME, hours, make_record


def test_backend_satisfies_the_protocol(backend: AuditBackend, audit_url: str) -> None:
    """Every method answers when called by the protocol's own keyword names; an empty store
    answers "nothing" (None, [], False)."""
    import inspect

    assert isinstance(backend, AuditBackend)
    assert backend.url == audit_url
    for name, member in vars(AuditBackend).items():
        if callable(member) and not name.startswith("_"):
            wanted = list(inspect.signature(member).parameters)[1:]
            given = list(inspect.signature(getattr(backend, name)).parameters)
            assert given == wanted, f"{type(backend).__name__}.{name}{given} != protocol {wanted}"
    record = make_record()
    assert backend.get(run_id=record.run_id) is None
    assert backend.attempts(workflow=record.workflow, release=record.release) == []
    assert backend.latest_release(workflow=record.workflow) is None
    assert backend.list(workflow=None, status=None, since=None, limit=None) == []
    assert backend.mark_crashed(run_id=record.run_id, reason="gone") is False
    with pytest.raises(KeyError):  # like update: an unknown run id is a caller's mistake
        backend.heartbeat(run_id=record.run_id, at=BASE_TIME)
    assert backend.claim_many(records=[]) == []
    assert backend.claim(record=record) is True
    assert backend.update(record=record, expect_running=True) is True
    assert backend.list() == [record]
    backend.close()
    assert backend.get(record.run_id) == record  # usable again after close


def test_claim_is_first_come_only(backend: AuditBackend) -> None:
    first = make_record()
    assert backend.claim(first) is True
    rival = make_record()  # same (workflow, release, attempt), another run
    assert backend.claim(rival) is False
    assert backend.get(rival.run_id) is None
    assert backend.get(first.run_id) == first
    assert backend.attempts(first.workflow, first.release) == [first]


def test_same_instant_in_another_timezone_is_the_same_release(backend: AuditBackend) -> None:
    assert backend.claim(make_record(release=BASE_TIME))
    bangkok = timezone(timedelta(hours=7))
    assert backend.claim(make_record(release=BASE_TIME.astimezone(bangkok))) is False


def test_each_attempt_of_a_release_is_claimed_separately(backend: AuditBackend) -> None:
    first = make_record(attempt=1)
    retry = make_record(attempt=2, type=ReleaseType.RERUN, parent_run_id=first.run_id)
    assert backend.claim(first) and backend.claim(retry)
    assert backend.claim(make_record(attempt=2)) is False
    other_release = make_record(release=BASE_TIME + hours(24))
    other_workflow = make_record(workflow="hourly-stock")
    assert backend.claim(other_release) and backend.claim(other_workflow)
    assert [r.run_id for r in backend.attempts("daily-sales", BASE_TIME)] == [first.run_id, retry.run_id]


def test_attempts_are_oldest_first_whatever_the_claim_order(backend: AuditBackend) -> None:
    for attempt in (3, 1, 10, 2):
        assert backend.claim(make_record(attempt=attempt))
    assert [r.attempt for r in backend.attempts("daily-sales", BASE_TIME)] == [1, 2, 3, 10]
    assert backend.attempts("daily-sales", BASE_TIME + hours(1)) == []
    assert backend.attempts("no-such-workflow", BASE_TIME) == []


def test_update_replaces_the_whole_record(backend: AuditBackend) -> None:
    record = make_record(params={"run-date": "2024-05-01"}, context={"jobs": {}})
    assert backend.claim(record)
    finished = record.model_copy(
        update={
            "status": ReleaseStatus.FAILED,
            "context": {"jobs": {"load": {"status": "FAILED"}}},
            "errors": [{"name": "ValueError", "message": "bad row", "job": "load"}],
            "ended": record.started + timedelta(seconds=3),
        }
    )
    backend.update(finished)
    assert backend.get(record.run_id) == finished
    assert backend.attempts(record.workflow, record.release) == [finished]


def test_update_of_an_unknown_run_raises_key_error(backend: AuditBackend) -> None:
    with pytest.raises(KeyError):
        backend.update(make_record())


def test_update_cannot_move_a_record_to_another_key(backend: AuditBackend) -> None:
    record = make_record()
    assert backend.claim(record)
    with pytest.raises(ValueError, match="cannot change"):
        backend.update(record.model_copy(update={"attempt": 2}))
    assert backend.get(record.run_id) == record


def test_a_run_id_is_recorded_once(backend: AuditBackend) -> None:
    record = make_record()
    assert backend.claim(record)
    with pytest.raises(ValueError, match="already recorded"):
        backend.claim(make_record(release=BASE_TIME + hours(1), run_id=record.run_id))


def test_get_by_run_id(backend: AuditBackend) -> None:
    records = [make_record(release=BASE_TIME + hours(i)) for i in range(5)]
    for record in records:
        assert backend.claim(record)
    for record in records:
        assert backend.get(record.run_id) == record
    assert backend.get("run-that-never-was") is None


def test_list_filters_and_orders_newest_first(backend: AuditBackend) -> None:
    records = []
    for i in range(6):
        workflow = "daily-sales" if i % 2 == 0 else "hourly-stock"
        record = make_record(
            workflow=workflow,
            release=BASE_TIME + hours(i),
            started=BASE_TIME + hours(i) + timedelta(minutes=5),
        )
        assert backend.claim(record)
        records.append(record)
    done = records[4].model_copy(update={"status": ReleaseStatus.SUCCESS})
    backend.update(done)
    records[4] = done
    newest_first = records[::-1]

    assert backend.list() == newest_first
    assert backend.list(workflow="daily-sales") == [r for r in newest_first if r.workflow == "daily-sales"]
    assert backend.list(status=ReleaseStatus.SUCCESS) == [done]
    assert backend.list(status=ReleaseStatus.RUNNING, workflow="daily-sales") == [records[2], records[0]]
    since = records[3].started
    assert backend.list(since=since) == newest_first[:3]  # started >= since: inclusive
    assert backend.list(since=since.astimezone(timezone(timedelta(hours=-5)))) == newest_first[:3]
    assert backend.list(limit=2) == newest_first[:2]
    assert backend.list(limit=0) == []
    assert backend.list(workflow="hourly-stock", limit=1) == [records[5]]
    assert backend.list(workflow="no-such-workflow") == []
    assert backend.list(status=ReleaseStatus.CANCEL) == []


def test_list_pages_resume_after_a_position_even_when_started_times_tie(backend: AuditBackend) -> None:
    """Paging reads each record exactly once, in list order, with ``after`` done by the store;
    records claimed in one batch share ``started``, so ties are broken by release, attempt and
    workflow, never lost or repeated between pages."""
    same_start = BASE_TIME + timedelta(days=1)
    claimed = []
    for i in range(11):
        workflow = ("a-flow", "b-flow")[i % 2]
        record = make_record(
            workflow=workflow,
            release=BASE_TIME + hours(i % 3),
            attempt=1 + i // 6,
            started=same_start if i < 8 else same_start + timedelta(seconds=i),
        )
        assert backend.claim(record)
        claimed.append(record)
    everything = backend.list()
    assert everything == sorted(claimed, key=lambda r: r.list_position, reverse=True)

    pages, after = [], None
    for _ in range(20):  # bounded: 11 records in pages of 3 is 4 pages
        page = backend.list(limit=3, after=after)
        if not page:
            break
        pages.append(page)
        after = page[-1].list_position
    assert [len(page) for page in pages] == [3, 3, 3, 2]
    assert [record for page in pages for record in page] == everything
    filtered = backend.list(workflow="b-flow", after=everything[2].list_position)
    assert filtered == [r for r in everything[3:] if r.workflow == "b-flow"]


def test_heartbeat_refreshes_only_running_records(backend: AuditBackend) -> None:
    running, finished = make_record(), make_record(attempt=2)
    assert backend.claim(running) and backend.claim(finished)
    backend.update(finished.model_copy(update={"status": ReleaseStatus.SUCCESS}))
    later = BASE_TIME + hours(100)

    backend.heartbeat(running.run_id, later)
    backend.heartbeat(finished.run_id, later)

    refreshed = backend.get(running.run_id)
    assert refreshed is not None and refreshed.heartbeat == later
    assert refreshed.model_copy(update={"heartbeat": running.heartbeat}) == running
    untouched = backend.get(finished.run_id)
    assert untouched is not None and untouched.heartbeat == finished.heartbeat
    with pytest.raises(KeyError):
        backend.heartbeat("run-that-never-was", later)


def test_mark_crashed_is_a_compare_and_set(backend: AuditBackend) -> None:
    running, finished = make_record(), make_record(attempt=2)
    assert backend.claim(running) and backend.claim(finished)
    backend.update(finished.model_copy(update={"status": ReleaseStatus.SUCCESS}))

    assert backend.mark_crashed(running.run_id, "no heartbeat for 10 minutes") is True
    crashed = backend.get(running.run_id)
    assert crashed is not None and crashed.status == ReleaseStatus.CRASHED
    assert crashed.errors[-1]["message"] == "no heartbeat for 10 minutes"
    assert crashed.ended is not None and crashed.ended.tzinfo is not None

    assert backend.mark_crashed(running.run_id, "again") is False
    assert backend.get(running.run_id) == crashed
    assert backend.mark_crashed(finished.run_id, "too late") is False
    assert backend.get(finished.run_id).status == ReleaseStatus.SUCCESS  # type: ignore[union-attr]
    assert backend.mark_crashed("run-that-never-was", "?") is False


def test_running_list_follows_every_status_change(backend: AuditBackend) -> None:
    one, two, three, four = (make_record(attempt=n) for n in range(1, 5))
    for record in (one, two, three, four):
        assert backend.claim(record)
    skipped = make_record(workflow="other", status=ReleaseStatus.SKIP)
    assert backend.claim(skipped)

    def running() -> set[str]:
        listed = {record.run_id for record in backend.list(status=ReleaseStatus.RUNNING)}
        assert listed == {r.run_id for r in backend.list() if r.status == ReleaseStatus.RUNNING}
        return listed

    assert running() == {one.run_id, two.run_id, three.run_id, four.run_id}
    backend.update(one.model_copy(update={"status": ReleaseStatus.SUCCESS}))
    backend.update(two.model_copy(update={"context": {"progress": 50}}))  # still RUNNING
    assert backend.mark_crashed(three.run_id, "lost")
    assert running() == {two.run_id, four.run_id}
    backend.update(one.model_copy(update={"status": ReleaseStatus.RUNNING}))  # allowed: a plain replace
    backend.update(skipped.model_copy(update={"status": ReleaseStatus.RUNNING}))
    assert running() == {one.run_id, two.run_id, four.run_id, skipped.run_id}
    assert [r.run_id for r in backend.list(status=ReleaseStatus.RUNNING, workflow="other")] == [
        skipped.run_id
    ]


def test_mark_crashed_keeps_earlier_errors(backend: AuditBackend) -> None:
    record = make_record(errors=[{"name": "Timeout", "message": "stage 'load' timed out"}])
    assert backend.claim(record)
    assert backend.mark_crashed(record.run_id, "worker lost")
    crashed = backend.get(record.run_id)
    assert crashed is not None
    assert [e["message"] for e in crashed.errors] == ["stage 'load' timed out", "worker lost"]


def test_mark_crashed_has_one_winner_among_threads(backend: AuditBackend) -> None:
    record = make_record()
    assert backend.claim(record)
    results: list[bool] = []
    start = threading.Barrier(6)

    def reap(n: int) -> None:
        start.wait(timeout=10)
        results.append(backend.mark_crashed(record.run_id, f"reaper {n}"))

    threads = [threading.Thread(target=reap, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert sorted(results) == [False] * 5 + [True]
    assert len(backend.get(record.run_id).errors) == 1  # type: ignore[union-attr]


def test_datetimes_round_trip_timezone_aware(backend: AuditBackend) -> None:
    bangkok = timezone(timedelta(hours=7))
    record = make_record(
        release=datetime(2024, 5, 1, 7, 0, tzinfo=bangkok),
        started=datetime(2024, 5, 1, 7, 0, 1, 123456, tzinfo=bangkok),
        heartbeat=datetime(2024, 5, 1, 0, 0, 2, tzinfo=UTC),
        ended=datetime(2024, 4, 30, 20, 0, 3, 999999, tzinfo=timezone(timedelta(hours=-4))),
    )
    assert backend.claim(record)
    stored = backend.get(record.run_id)
    assert stored is not None
    for name in ("release", "started", "heartbeat", "ended"):
        value = getattr(stored, name)
        assert value.tzinfo is not None and value.utcoffset() is not None, name
        assert value == getattr(record, name), name  # the same instant, microseconds kept
    assert stored == record


def test_json_fields_round_trip(backend: AuditBackend) -> None:
    record = make_record(
        params={"run-date": "2024-05-01", "limit": 10, "ratio": 0.5, "flags": [True, None], "thai": "วันที่"},
        context={
            "jobs": {"extract": {"stages": {"s1": {"outputs": {"rows": 3, "nested": {"a": [1, {"b": 2}]}}}}}}
        },
        definition_hash="sha256:abc",
        host="scheduler-1",
        pid=4242,
    )
    assert backend.claim(record)
    assert backend.get(record.run_id) == record


def test_names_with_path_characters_are_stored_safely(backend: AuditBackend) -> None:
    odd = ["team/etl", "..", "_runs", ".hidden", "a b%2F", "ไทย"]
    records = [make_record(workflow=name, run_id=f"../{name}/run") for name in odd]
    for record in records:
        assert backend.claim(record)
    for record in records:
        assert backend.get(record.run_id) == record
        assert backend.attempts(record.workflow, record.release) == [record]
        assert backend.list(workflow=record.workflow) == [record]
    assert len(backend.list()) == len(odd)


def test_records_survive_reopening(open_backend: Callable[[str], AuditBackend], audit_url: str) -> None:
    first = open_backend(audit_url)
    record = make_record(params={"x": 1})
    assert first.claim(record)
    first.heartbeat(record.run_id, BASE_TIME + hours(1))
    first.close()

    again = open_backend(audit_url)
    stored = again.get(record.run_id)
    assert stored is not None and stored.heartbeat == BASE_TIME + hours(1)
    assert again.claim(make_record()) is False
    assert again.mark_crashed(record.run_id, "scheduler restarted")
    assert again.list(status=ReleaseStatus.CRASHED)[0].run_id == record.run_id


def test_two_open_backends_on_one_store_see_each_other(
    open_backend: Callable[[str], AuditBackend], audit_url: str
) -> None:
    one, two = open_backend(audit_url), open_backend(audit_url)
    record = make_record()
    assert one.claim(record)
    assert two.claim(make_record()) is False
    two.update(record.model_copy(update={"status": ReleaseStatus.SKIP}))
    assert one.get(record.run_id).status == ReleaseStatus.SKIP  # type: ignore[union-attr]


def test_naive_datetimes_are_refused(backend: AuditBackend) -> None:
    with pytest.raises(ValueError):
        backend.list(since=datetime(2024, 1, 1))


def test_claim_many_claims_each_key_once(backend: AuditBackend) -> None:
    taken = make_record(release=BASE_TIME)
    assert backend.claim(taken)
    batch = [make_record(release=BASE_TIME + hours(n)) for n in range(5)]
    assert backend.claim_many(batch) == [False, True, True, True, True]
    assert backend.claim_many([]) == []
    assert backend.get(batch[0].run_id) is None and backend.get(batch[4].run_id) == batch[4]
    assert backend.claim_many([make_record(release=BASE_TIME + hours(n)) for n in range(5)]) == [False] * 5


def test_update_expecting_running_does_not_overwrite_a_crash_mark(backend: AuditBackend) -> None:
    record = make_record()
    assert backend.claim(record)
    assert backend.mark_crashed(record.run_id, "process is gone")
    late = record.model_copy(update={"status": ReleaseStatus.SUCCESS, "ended": BASE_TIME + hours(1)})
    assert backend.update(late, expect_running=True) is False
    assert backend.get(record.run_id).status is ReleaseStatus.CRASHED
    assert backend.update(late) is True  # unconditional update still writes
    assert backend.get(record.run_id).status is ReleaseStatus.SUCCESS


def test_latest_release_is_by_logical_date_not_start_time(backend: AuditBackend) -> None:
    assert backend.latest_release("daily-sales") is None
    for days in (2, 0, 5, 1):  # claimed out of order, as a backfill would
        assert backend.claim(make_record(release=BASE_TIME + hours(24 * days)))
    assert backend.claim(make_record(workflow="other", release=BASE_TIME + hours(24 * 9)))
    latest = backend.latest_release("daily-sales")
    assert latest == BASE_TIME + hours(24 * 5) and latest.tzinfo is not None


# -- daylight-saving nights: every record is keyed by its UTC instant ---------------------

DST_NIGHTS = [  # (zone, a UTC window around one clock change): both directions, several zones
    ("America/New_York", datetime(2025, 11, 2, 4, 30, tzinfo=UTC), "back"),  # 01:xx twice
    ("America/New_York", datetime(2025, 3, 9, 6, 0, tzinfo=UTC), "forward"),  # 02:xx never
    ("Europe/London", datetime(2024, 10, 27, 0, 0, tzinfo=UTC), "back"),
    ("Europe/London", datetime(2024, 3, 31, 0, 0, tzinfo=UTC), "forward"),
    ("Australia/Sydney", datetime(2025, 4, 5, 15, 0, tzinfo=UTC), "back"),  # southern autumn
    ("Australia/Sydney", datetime(2025, 10, 4, 15, 0, tzinfo=UTC), "forward"),
    ("Australia/Lord_Howe", datetime(2025, 4, 5, 14, 30, tzinfo=UTC), "back"),  # a 30-minute shift
]


def dst_ticks(zone: str, window_start: datetime) -> list[datetime]:
    """Every ``*/10`` tick over three hours around the change, in the zone (fold set by croniter)."""
    from runwright.models.events import CronEvent
    from runwright.schedule.cron import ticks_between

    event = CronEvent.model_validate({"cronjob": "*/10 * * * *", "timezone": zone})
    ticks = ticks_between(event, window_start, window_start + hours(3))
    assert len({tick.astimezone(UTC) for tick in ticks}) == len(ticks) == 18  # the cron side is right
    return ticks


@pytest.mark.parametrize(("zone", "window_start", "direction"), DST_NIGHTS)
def test_a_dst_night_keeps_every_release_apart(
    backend: AuditBackend, zone: str, window_start: datetime, direction: str
) -> None:
    """Ticks in a repeated (or skipped) local hour are separate releases, claimed, updated,
    beaten, reaped and found again like any other: no 'cannot change its key', no record
    left RUNNING."""
    ticks = dst_ticks(zone, window_start)
    wall_times = [tick.replace(tzinfo=None) for tick in ticks]
    assert (len(set(wall_times)) < len(ticks)) == (direction == "back")  # the night is what it says

    records = [make_record(workflow="dst", release=tick) for tick in ticks]
    assert backend.claim_many(records[:6]) == [True] * 6
    for record in records[6:]:
        assert backend.claim(record)
    for record in records:  # the same instant, written in UTC or as the other fold, is taken
        assert backend.claim(make_record(workflow="dst", release=record.release.astimezone(UTC))) is False
    for index, record in enumerate(records):
        beat = record.release.astimezone(UTC) + timedelta(minutes=1)
        backend.heartbeat(record.run_id, beat)
        assert backend.get(record.run_id).heartbeat == beat  # type: ignore[union-attr]
        if index % 3 == 0:
            assert backend.mark_crashed(record.run_id, "gone")
        finished = record.model_copy(update={"status": ReleaseStatus.SUCCESS, "ended": record.release})
        assert backend.update(finished, expect_running=True) is (index % 3 != 0)

    assert backend.list(status=ReleaseStatus.RUNNING) == []
    assert len(backend.list(workflow="dst")) == len(ticks)
    for index, (tick, record) in enumerate(zip(ticks, records, strict=True)):
        stored = backend.attempts("dst", tick)
        assert [r.run_id for r in stored] == [record.run_id]
        assert stored[0].release.astimezone(UTC) == tick.astimezone(UTC)
        assert stored[0].status is (ReleaseStatus.CRASHED if index % 3 == 0 else ReleaseStatus.SUCCESS)
    assert backend.latest_release("dst") == ticks[-1].astimezone(UTC)

    # a second attempt of a release in the repeated hour lands beside the first, not on another
    retry = make_record(workflow="dst", release=ticks[8], attempt=2)
    assert backend.claim(retry)
    assert [r.attempt for r in backend.attempts("dst", ticks[8].astimezone(UTC))] == [1, 2]
    assert [r.attempt for r in backend.attempts("dst", ticks[7])] == [1]


# -- claim_next_attempt: the compare-and-set behind backfill, rerun and crash re-release ----


def test_claim_next_attempt_numbers_attempts_and_refuses_while_running_or_done(
    backend: AuditBackend,
) -> None:
    first = backend.claim_next_attempt(make_record(attempt=7))  # the store picks the number
    assert first is not None and first.attempt == 1
    assert backend.get(first.run_id) == first
    assert backend.claim_next_attempt(make_record()) is None  # attempt 1 is RUNNING

    backend.update(first.model_copy(update={"status": ReleaseStatus.FAILED}))
    second = backend.claim_next_attempt(make_record())
    assert second is not None and second.attempt == 2
    assert backend.mark_crashed(second.run_id, "gone")
    third = backend.claim_next_attempt(make_record())
    assert third is not None and third.attempt == 3
    backend.update(third.model_copy(update={"status": ReleaseStatus.SUCCESS}))
    assert backend.claim_next_attempt(make_record()) is None  # done: never run again
    assert [r.attempt for r in backend.attempts("daily-sales", BASE_TIME)] == [1, 2, 3]

    # the caller says what blocks: only RUNNING (a forced run after a success)
    forced = backend.claim_next_attempt(make_record(), unless={ReleaseStatus.RUNNING})
    assert forced is not None and forced.attempt == 4
    assert backend.claim_next_attempt(make_record(), unless={ReleaseStatus.RUNNING}) is None
    # other releases and workflows are untouched
    other = backend.claim_next_attempt(make_record(release=BASE_TIME + hours(1)))
    assert other is not None and other.attempt == 1
    assert backend.claim(make_record(release=BASE_TIME + hours(1))) is False


def test_claim_next_attempt_is_blocked_by_any_attempt_not_only_the_latest(
    backend: AuditBackend,
) -> None:
    """A success in attempt 1 still blocks a default claim after a forced attempt 2 failed."""
    first = backend.claim_next_attempt(make_record())
    assert first is not None
    backend.update(first.model_copy(update={"status": ReleaseStatus.SUCCESS}))
    forced = backend.claim_next_attempt(make_record(), unless={ReleaseStatus.RUNNING})
    assert forced is not None and forced.attempt == 2
    backend.update(forced.model_copy(update={"status": ReleaseStatus.FAILED}))
    assert backend.claim_next_attempt(make_record()) is None  # attempt 1 SUCCESS still counts
    assert [r.attempt for r in backend.attempts("daily-sales", BASE_TIME)] == [1, 2]


def test_claim_next_attempt_after_a_plain_claim_and_with_a_used_run_id(backend: AuditBackend) -> None:
    skipped = make_record(status=ReleaseStatus.SKIP)
    assert backend.claim(skipped)
    after = backend.claim_next_attempt(make_record())
    assert after is not None and after.attempt == 2
    with pytest.raises(ValueError, match="already recorded"):
        backend.claim_next_attempt(make_record(release=BASE_TIME + hours(1), run_id=after.run_id))


def test_claim_next_attempt_has_one_winner_among_threads(backend: AuditBackend) -> None:
    start = threading.Barrier(8)
    won: list[int] = []

    def claim(n: int) -> None:
        start.wait(timeout=10)
        claimed = backend.claim_next_attempt(make_record(workflow="contended"))
        if claimed is not None:
            won.append(claimed.attempt)

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert won == [1]
    assert len(backend.attempts("contended", BASE_TIME)) == 1
