"""Pause and unpause (issue 26): kept in the audit store, honoured by every scheduler sharing it
from its next tick; on unpause, missed ticks follow the workflow's catch-up rule, no more."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from runwright.audit import make_audit_backend
from runwright.schedule.clock import SimulatedClock
from runwright.schedule.scheduler import Scheduler

T0 = datetime(2024, 1, 1, tzinfo=UTC)

MINUTELY = """
every-minute:
  type: Workflow
  tags: [minutely]
  on: [{{cronjob: "* * * * *"{catchup}}}]
  jobs:
    j: {{stages: [{{id: s, echo: "${{{{ release.logical_date }}}}"}}]}}
"""


class ScriptedClock(SimulatedClock):
    """A simulated clock that does something when it first reaches a time (a person pausing)."""

    def __init__(self, start: datetime, actions: dict[datetime, Callable[[], None]]) -> None:
        super().__init__(start)
        self.actions = dict(sorted(actions.items()))

    def sleep_until(self, when: datetime, stop: threading.Event) -> bool:
        for at in [at for at in self.actions if at <= when]:
            self.set(max(self.now(), at))
            self.actions.pop(at)()
        return super().sleep_until(when, stop)


def minutes(outcomes) -> list[str]:
    return sorted(o.logical_date.astimezone(UTC).strftime("%H:%M") for o in outcomes if o.ran)


def at(m: float) -> datetime:
    return T0 + timedelta(minutes=m)


@pytest.mark.parametrize(
    ("catchup", "expected_after_unpause"),
    [
        ("", ["00:08"]),  # default: only the latest missed tick
        (", catchup: PT3M", ["00:05", "00:06", "00:07", "00:08"]),  # the window's missed ticks
    ],
)
def test_a_paused_workflow_is_not_released_and_unpause_follows_catch_up(
    conf, catchup: str, expected_after_unpause: list[str]
) -> None:
    folder = conf(MINUTELY.format(catchup=catchup))
    store = make_audit_backend(conf_path=folder)
    clock = ScriptedClock(
        at(0.5),
        {
            at(2.5): lambda: store.pause("every-minute", by="ann", at=at(2.5)),
            at(7.5): lambda: store.unpause("every-minute"),
        },
    )
    outcomes = Scheduler(folder, clock=clock, max_workers=1).run(until=at(10.5))
    assert minutes(outcomes) == ["00:01", "00:02", *expected_after_unpause, "00:09", "00:10"]
    stored = sorted(r.release for r in store.list(workflow="every-minute"))
    assert [t.strftime("%H:%M") for t in stored] == minutes(outcomes)  # skipped ticks leave no record
    assert {(r.how_started, tuple(r.tags)) for r in store.list()} == {("schedule", ("minutely",))}


def test_a_scheduler_started_while_paused_releases_nothing_until_unpaused(conf, caplog) -> None:
    import logging

    folder = conf(MINUTELY.format(catchup=""))
    store = make_audit_backend(conf_path=folder)
    assert store.pause("every-minute", by="ann", at=T0)
    clock = ScriptedClock(at(0.5), {at(4.5): lambda: store.unpause("every-minute")})
    with caplog.at_level(logging.INFO, logger="runwright.scheduler"):
        outcomes = Scheduler(folder, clock=clock, max_workers=1).run(until=at(6.5))
    assert minutes(outcomes) == ["00:05", "00:06"]  # never released before: from the unpause on
    assert "paused (no ticks released until unpaused): every-minute" in caplog.text  # start-up summary
    assert "every-minute is unpaused" in caplog.text


def test_followers_and_crash_retries_of_a_paused_workflow_wait_too(conf) -> None:
    folder = conf(
        MINUTELY.format(catchup="")
        + """
follower:
  type: Workflow
  on: {release: [every-minute]}
  jobs:
    j: {stages: [{id: s, echo: "after"}]}
"""
    )
    store = make_audit_backend(conf_path=folder)
    assert store.pause("follower", by="ann", at=T0)
    outcomes = Scheduler(folder, clock=SimulatedClock(at(0.5)), max_workers=1).run(until=at(2.5))
    assert {o.workflow for o in outcomes if o.ran} == {"every-minute"}
    assert store.list(workflow="follower") == []


LABELLED = """
sales:
  type: Workflow
  tags: [finance, daily]
  on: [{cronjob: "0 3 * * *"}]
  params: {region: {type: str, default: north}}
  jobs: {j: {stages: [{id: s, echo: "${{ params.region }}"}]}}
stock:
  type: Workflow
  jobs: {j: {stages: [{id: s, bash: "echo 'no rows' >&2; exit 4"}]}}
"""


def test_labels_from_the_command_line_are_stored_and_filter_runs_and_audit_list(conf) -> None:
    import json

    from tests.conftest import run_cli

    folder = conf(LABELLED)
    first = run_cli("run", "sales", "--conf", str(folder), "-l", "team=finance", "-l", "ticket=OPS-1")
    assert first.returncode == 0, first.stderr
    assert (
        run_cli("run", "sales", "--conf", str(folder), "-l", "team=ops", "-p", "region=Zürich").returncode
        == 0
    )
    assert run_cli("run", "stock", "--conf", str(folder)).returncode == 1
    rows = json.loads(run_cli("runs", "--conf", str(folder), "--json").stdout)
    assert [(r["workflow"], r["started_by"], r["labels"], r["tags"]) for r in rows] == [
        ("stock", "cli", {}, []),
        ("sales", "cli", {"team": "ops"}, ["finance", "daily"]),
        ("sales", "cli", {"team": "finance", "ticket": "OPS-1"}, ["finance", "daily"]),
    ]
    assert all(r["ended"] and r["logical_date"] for r in rows)

    def workflows_of(*args: str) -> list[str]:
        listed = run_cli("runs", "--conf", str(folder), "--json", *args)
        assert listed.returncode == 0, listed.stderr
        return [(r["workflow"], r["labels"].get("team")) for r in json.loads(listed.stdout)]

    assert workflows_of("-l", "team=finance") == [("sales", "finance")]
    assert workflows_of("--tag", "finance", "--tag", "daily") == [("sales", "ops"), ("sales", "finance")]
    assert workflows_of("-q", "zürich") == [("sales", "ops")]
    assert workflows_of("-q", "exited with code 4", "--status", "failed") == [("stock", None)]
    assert workflows_of("--since", "P1D", "--until", "2000-01-01") == []
    bad = run_cli("runs", "--conf", str(folder), "-l", "team")
    assert bad.returncode == 2 and "expected KEY=VALUE" in bad.stderr, bad.stderr
    table = run_cli("audit", "list", "--conf", str(folder), "-l", "team=finance").stdout
    assert len(table.splitlines()) == 1 and "team=finance" in table and "finance,daily" in table
    run_cli("pause", "sales", "--conf", str(folder))
    text = run_cli("runs", "--conf", str(folder)).stdout
    assert "sales (paused)" in text and "stock (paused)" not in text
    listed = {row["name"]: row for row in json.loads(run_cli("list", "--conf", str(folder), "--json").stdout)}
    assert listed["sales"]["paused"]["by"] and listed["stock"]["paused"] is None
    assert listed["sales"]["tags"] == ["finance", "daily"]


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("-l", "team"), "-l expects KEY=VALUE, got 'team'"),
        (("-l", "bad key=x"), "key 'bad key' is not a label key"),
        (("-l", "team=a", "-l", "team=b"), "label 'team' is given twice"),
        (("-l", "team=" + "x" * 201), "at most 200 are allowed"),
    ],
)
def test_a_bad_label_on_the_command_line_is_a_usage_error_before_anything_runs(conf, args, said) -> None:
    from tests.conftest import run_cli

    folder = conf(LABELLED)
    result = run_cli("run", "sales", "--conf", str(folder), *args)
    assert result.returncode == 2 and said in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert make_audit_backend(conf_path=folder).list() == []
