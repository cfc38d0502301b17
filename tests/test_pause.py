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


PACED = """
pacer:
  type: Workflow
  on: [{{cronjob: "* * * * *"}}]
  jobs:
    j:
      stages:
        - id: wait-for-the-test
          bash: |
            for i in $(seq 1200); do [ -e "{gates}/${{{{ release.logical_date }}}}" ] && exit 0; sleep 0.05; done
            exit 1
target:
  type: Workflow
  on: [{{cronjob: "* * * * *"}}]
  jobs:
    j: {{stages: [{{id: s, echo: "${{{{ release.logical_date }}}}"}}]}}
"""


def test_two_scheduler_processes_sharing_a_store_honour_pause_and_unpause(
    conf, tmp_path, monkeypatch
) -> None:
    """Two real scheduler processes on one SQLite store, their simulated clocks paced by the test:
    each runs one release at a time (``--workers 1``) and ``pacer``'s release at minute k waits
    for the test to open gate k, so both processes are always within two ticks of the gates. The
    CLI pauses ``target`` while they run, and unpauses it later."""
    from runwright.audit import ReleaseStatus

    from tests.conftest import run_cli
    from tests.test_scheduler_processes import scheduler_process

    monkeypatch.setenv("RUNWRIGHT_AUDIT_URL", f"sqlite:///{tmp_path / 'audit.db'}")
    gates = tmp_path / "gates"
    gates.mkdir()
    folder = conf(PACED.format(gates=gates))
    store = make_audit_backend(conf_path=folder)

    def released(workflow: str) -> list[int]:
        return sorted(int(r.release.minute) for r in store.list(workflow=workflow))

    def open_gate(minute: int) -> None:
        (gates / at(minute).isoformat()).touch()

    def wait_for_pacer(minute: int) -> None:
        for _ in range(1200):  # bounded: 60 s
            if minute in released("pacer"):
                return
            threading.Event().wait(0.05)
        raise AssertionError(f"pacer @ minute {minute} was never claimed; pacer: {released('pacer')}")

    args = ("--simulate-from", at(0.5).isoformat(), "--until", at(20.5).isoformat(), "--workers", "1")
    processes = [scheduler_process(folder, *args), scheduler_process(folder, *args)]
    try:
        wait_for_pacer(2)  # one process holds minute 1, the other minute 2
        for minute in (1, 2):
            open_gate(minute)
            wait_for_pacer(minute + 2)
        assert released("target") == [1, 2, 3, 4]
        paused = run_cli("pause", "target", "--conf", str(folder))
        assert paused.returncode == 0 and "paused target" in paused.stdout, paused.stderr
        for minute in range(3, 9):  # the processes reach minutes 5 .. 10 while it is paused
            open_gate(minute)
            wait_for_pacer(minute + 2)
        assert released("target") == [1, 2, 3, 4]
        unpaused = run_cli("unpause", "target", "--conf", str(folder))
        assert unpaused.returncode == 0 and "unpaused target" in unpaused.stdout, unpaused.stderr
        for minute in range(9, 22):
            open_gate(minute)
        outputs = [process.communicate(timeout=120) for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
    for process, (_, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err
    assert any("target is paused" in err for _, err in outputs)
    # 5 .. 9 were missed while paused; the first wake after unpause is minute 10, whose latest
    # missed tick is 10 itself (no catch-up window): nothing of 5 .. 9 ever runs
    assert released("target") == [1, 2, 3, 4, *range(10, 21)]
    assert released("pacer") == list(range(1, 21))
    assert all(r.status is ReleaseStatus.SUCCESS for r in store.list(limit=1000))


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
