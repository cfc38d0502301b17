"""One broken file does not stop the templates of the other files (scheduler included)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from runwright.schedule.clock import SimulatedClock
from runwright.schedule.scheduler import Scheduler

TICKING = """
ticking:
  type: Workflow
  on: [{cronjob: "* * * * *"}]
  jobs:
    j: {stages: [{id: s, echo: hi}]}
"""


def test_the_scheduler_keeps_the_good_files(conf, caplog) -> None:
    conf(TICKING, "good.yml")
    folder = conf("broken:\n  type: Workflow\n  jobs: [oops\n", "broken.yml")
    scheduler = Scheduler(folder, clock=SimulatedClock(datetime(2024, 1, 1, tzinfo=UTC)))
    with caplog.at_level(logging.ERROR):
        scheduler.load()
    assert [entry.workflow for entry in scheduler.entries.values()] == ["ticking"]
    assert any("broken.yml" in record.getMessage() for record in caplog.records)


def test_loading_names_the_broken_file_once_and_refuses_only_an_ambiguous_name(conf, runtime, caplog) -> None:
    import pytest
    from runwright import Workflow
    from runwright.errors import ConfError

    conf(TICKING, "a.yml")
    conf(TICKING.replace("ticking", "other"), "b.yml")
    folder = conf(TICKING.replace("ticking", "other"), "c.yml")  # 'other' defined twice
    with caplog.at_level(logging.WARNING):
        workflow = Workflow.from_conf("ticking", folder, runtime=runtime)
    assert workflow.name == "ticking"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "'other' is defined twice" in warnings[0]
    with pytest.raises(ConfError, match="'other' is defined twice"):
        Workflow.from_conf("other", folder, runtime=runtime)
