"""Ranges typed on the command line are bounded with a clear error: a backfill of more than
100,000 ticks is refused before the ticks are computed one by one, and ``audit list --limit``
takes only a positive number."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from runwright.audit import ReleaseRecord, ReleaseStatus, make_audit_backend
from runwright.cli import audit as audit_cli  # noqa: F401 - registers `audit` on the app
from runwright.cli import schedule as schedule_cli  # noqa: F401 - registers `backfill` on the app
from runwright.cli.app import app
from runwright.errors import RunwrightError
from runwright.models.events import CronEvent
from runwright.schedule.clock import SimulatedClock
from runwright.schedule.cron import MAX_TICKS, minimum_tick_count, ticks_between
from runwright.schedule.scheduler import Scheduler

EVERY_MINUTE = """
everymin:
  type: Workflow
  on: [{cronjob: "* * * * *", timezone: "%s"}]
  jobs: {j: {stages: [{id: s, echo: hi}]}}
"""


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin"])
def test_backfill_of_too_many_ticks_is_a_clear_error(tmp_path: Path, zone: str) -> None:
    (tmp_path / "wf.yml").write_text(EVERY_MINUTE % zone)
    window = ["--start", "2020-01-01T00:00", "--end", "2021-01-01T00:00"]
    result = CliRunner().invoke(app, ["backfill", "everymin", *window, "--conf", str(tmp_path)])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert f"more than {MAX_TICKS:,} ticks of '* * * * *'" in result.output
    assert "everymin" in result.output and "narrow --start/--end" in result.output
    assert make_audit_backend().list(workflow="everymin") == []  # nothing was released


def event(cronjob: str, zone: str = "UTC", **bounds: datetime) -> CronEvent:
    return CronEvent.model_validate({"cronjob": cronjob, "timezone": zone, **bounds})


#: cron lines whose ticks the counting understands, and some it leaves to croniter
CRONS = [
    "*/30 * * * *",
    "* 2 * * *",
    "*/20 3-5 * * *",
    "0 0 * * 0",
    "0 0 * * 7",
    "30 1 1,15 * 1-5",
    "0 12 L * *",
    "15 2 29 2 *",
    "0 0 31 * *",
    "0 0 * * 5#3",
    "0 9 * 3,10 SUN",
]
ZONES = ["UTC", "Europe/London", "America/Sao_Paulo", "Australia/Lord_Howe"]


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("cronjob", CRONS)
def test_the_tick_count_is_a_lower_bound(cronjob: str, zone: str) -> None:
    """The quick count never says more than croniter finds (so it never refuses a range that
    fits), and in UTC, where no day is shorter or longer, it is the exact count."""
    after = datetime(2024, 2, 27, 10, 17, tzinfo=UTC)
    until = after + timedelta(days=60)  # across the March/April DST changes of each zone
    cron = event(cronjob, zone)
    exact = len(ticks_between(cron, after, until))
    counted = minimum_tick_count(cron, after, until)
    assert counted <= exact
    if zone == "UTC" and "#" not in cronjob:
        assert counted >= exact - 2 * 24 * 60  # only the partial first and last days are left out


def test_the_count_respects_the_entry_bounds() -> None:
    bounded = event("* * * * *", start=datetime(2024, 1, 1, tzinfo=UTC), end=datetime(2024, 1, 3, tzinfo=UTC))
    assert (
        minimum_tick_count(bounded, datetime(2000, 1, 1, tzinfo=UTC), datetime(2030, 1, 1, tzinfo=UTC))
        <= 2 * 1441
    )
    assert (
        len(ticks_between(bounded, datetime(2000, 1, 1, tzinfo=UTC), datetime(2030, 1, 1, tzinfo=UTC)))
        == 2 * 1440 + 1
    )


def test_a_sparse_cron_over_centuries_is_still_listed() -> None:
    yearly = event("0 0 1 1 *")
    ticks = ticks_between(yearly, datetime(1899, 12, 31, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
    assert len(ticks) == 201


def test_too_many_ticks_is_a_runwright_error() -> None:
    with pytest.raises(RunwrightError, match=r"more than 100,000 ticks"):
        ticks_between(event("* * * * *"), datetime(2000, 1, 1, tzinfo=UTC), datetime(2030, 1, 1, tzinfo=UTC))


HEALTHY_EVERY_MINUTE = """
everymin:
  type: Workflow
  on: [{cronjob: "* * * * *"}]
  jobs: {j: {stages: [{id: s, echo: hi}]}}
"""


@pytest.mark.parametrize(
    ("catchup", "expected_minutes"),
    [("", [(0, 0), (0, 1)]), (", catchup: PT3M", [(23, 58), (23, 59), (0, 0), (0, 1)])],
    ids=["latest-only", "catch-up-window"],
)
def test_scheduler_resumes_after_a_long_gap_without_listing_every_missed_tick(
    tmp_path: Path, catchup: str, expected_minutes: list[tuple[int, int]]
) -> None:
    """The last release was a year ago (every minute: half a million missed ticks): the scheduler
    starts, keeps the latest missed tick (or the catch-up window's ticks) and goes on."""
    folder = tmp_path / "conf"
    folder.mkdir()
    (folder / "wf.yml").write_text(HEALTHY_EVERY_MINUTE.replace('"* * * * *"', '"* * * * *"' + catchup))
    start = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(seconds=30)
    long_ago = start - timedelta(days=365)
    make_audit_backend().claim(
        ReleaseRecord(
            workflow="everymin",
            release=long_ago.replace(second=0),
            run_id="old",
            status=ReleaseStatus.SUCCESS,
        )
    )
    outcomes = Scheduler(folder, clock=SimulatedClock(start)).run(until=start + timedelta(minutes=1))
    released = sorted(o.logical_date.astimezone(UTC) for o in outcomes)
    assert [(tick.hour, tick.minute) for tick in released] == expected_minutes


@pytest.mark.parametrize("limit", ["-1", "0", "-50"])
def test_audit_list_limit_must_be_positive(limit: str) -> None:
    result = CliRunner().invoke(app, ["audit", "list", "--limit", limit])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "--limit" in result.output and "greater than or equal to 1" in result.output
