"""`Workflow.release` takes ISO strings; naive values are read in the workflow's time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from runwright.errors import RunwrightError

BANGKOK = ZoneInfo("Asia/Bangkok")

ZONED = """
zoned:
  type: Workflow
  on:
    - cronjob: '0 * * * *'
      timezone: Asia/Bangkok
  jobs:
    j:
      stages: [{id: s, run: "when = str(${{ params.when }})"}]
  params:
    when: datetime
"""


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("2026-01-01T00:00", datetime(2026, 1, 1, tzinfo=BANGKOK)),
        ("2026-01-01 06:30:00", datetime(2026, 1, 1, 6, 30, tzinfo=BANGKOK)),
        ("2026-01-01T00:00+00:00", datetime(2026, 1, 1, tzinfo=UTC)),
        ("2026-01-01T00:00Z", datetime(2026, 1, 1, tzinfo=UTC)),
        (datetime(2026, 1, 1, 5), datetime(2026, 1, 1, 5, tzinfo=BANGKOK)),
        (date(2026, 1, 2), datetime(2026, 1, 2, tzinfo=BANGKOK)),
    ],
)
def test_release_accepts_iso_strings_and_naive_values(workflow_from, given, expected) -> None:
    wf = workflow_from(ZONED)
    outcome = wf.release(given, {"when": "${{ release.logical_date }}"})
    assert outcome.status == "SUCCESS", outcome.record.errors
    assert outcome.logical_date == expected
    assert outcome.logical_date.utcoffset() == expected.utcoffset()
    assert outcome.record.release == expected


def test_release_without_schedule_reads_naive_values_in_utc(workflow_from) -> None:
    wf = workflow_from("""
    plain:
      type: Workflow
      jobs: {j: {stages: [{id: s, echo: hi}]}}
    """)
    outcome = wf.release("2026-01-01T00:00", mode="dryrun")
    assert outcome.logical_date == datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("given", ["tomorrow", "2026-13-01T00:00", 20260101])
def test_release_says_what_it_expects(workflow_from, given) -> None:
    wf = workflow_from(ZONED)
    with pytest.raises(RunwrightError) as caught:
        wf.release(given)
    message = str(caught.value)
    assert "workflow 'zoned'" in message and "ISO" in message and repr(given) in message
