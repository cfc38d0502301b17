"""``on: {release: [upstream]}``: a workflow released when another one's release finishes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from runwright import Workflow
from runwright.audit import make_audit_backend
from runwright.errors import TemplateError
from runwright.schedule.clock import SimulatedClock
from runwright.schedule.scheduler import Scheduler

from tests.conftest import run_cli

T0 = datetime(2024, 1, 1, tzinfo=UTC)

CHAIN = """
extract:
  type: Workflow
  on: {schedule: [{cronjob: "*/10 * * * *"}]}
  params: {fail: {type: str, default: "no"}}
  jobs:
    j:
      stages:
        - {id: s, run: "rows = 3"}
        - {id: boom, if: "${{ params.fail == 'yes' }}", raise: "extract broke"}
load:
  type: Workflow
  on: {release: [extract]}
  jobs:
    j:
      stages:
        - id: s
          run: |
            upstream_run = ${{ release.upstream.run_id }}
            upstream_status = ${{ release.upstream.status }}
            upstream_name = ${{ release.upstream.workflow }}
            date = ${{ release.logical_date }}
        - id: only-on-success
          if: "${{ release.upstream.status == 'SUCCESS' }}"
          echo: upstream succeeded
report:
  type: Workflow
  on:
    release: [load]
  jobs:
    j: {stages: [{id: s, run: "after = ${{ release.upstream.workflow }}"}]}
"""


def stage_outputs(context, stage="s"):
    return context["jobs"]["j"]["stages"][stage]["outputs"]


def test_on_release_loads_beside_a_schedule(conf, runtime) -> None:
    folder = conf(CHAIN)
    extract = Workflow.from_conf("extract", folder, runtime=runtime)
    load = Workflow.from_conf("load", folder, runtime=runtime)
    assert [e.cronjob for e in extract.on] == ["*/10 * * * *"] and extract.released_after == ()
    assert load.on == [] and load.released_after == ("extract",)


@pytest.mark.parametrize(
    ("on", "message"),
    [
        ("{release: [self-loop]}", "workflow 'self-loop' cannot be released after itself"),
        ("{release: [1, 2]}", "on.release must be a list of workflow names"),
    ],
)
def test_bad_on_release_is_refused(conf, runtime, on, message) -> None:
    folder = conf(f"""
    self-loop:
      type: Workflow
      on: {on}
      jobs: {{j: {{stages: [{{id: s, echo: x}}]}}}}
    """)
    with pytest.raises(TemplateError) as caught:
        Workflow.from_conf("self-loop", folder, runtime=runtime)
    assert message in str(caught.value)


def test_scheduler_releases_followers_with_the_upstream_run(conf) -> None:
    folder = conf(CHAIN)
    scheduler = Scheduler(folder, clock=SimulatedClock(T0 + timedelta(seconds=30)), max_workers=1)
    outcomes = scheduler.run(until=T0 + timedelta(minutes=20, seconds=30))
    by_workflow: dict[str, list] = {}
    for outcome in outcomes:
        by_workflow.setdefault(outcome.workflow, []).append(outcome)
    assert [o.logical_date for o in by_workflow["extract"]] == [
        T0 + timedelta(minutes=10),
        T0 + timedelta(minutes=20),
    ]
    assert [o.logical_date for o in by_workflow["load"]] == [o.logical_date for o in by_workflow["extract"]]
    for upstream, follower in zip(by_workflow["extract"], by_workflow["load"], strict=True):
        outputs = stage_outputs(follower.result.context)
        assert outputs["upstream_run"] == upstream.run_id
        assert outputs["upstream_status"] == "SUCCESS" and outputs["upstream_name"] == "extract"
        assert outputs["date"] == upstream.logical_date  # a datetime, as in every run's release
    assert [stage_outputs(o.result.context) for o in by_workflow["report"]] == [{"after": "load"}] * 2
    audit = make_audit_backend()
    assert sorted(r.release for r in audit.list(workflow="load")) == [
        T0 + timedelta(minutes=10),
        T0 + timedelta(minutes=20),
    ]
    again = Scheduler(folder, clock=SimulatedClock(T0 + timedelta(minutes=20, seconds=40)), max_workers=1)
    assert [o for o in again.run(until=T0 + timedelta(minutes=20, seconds=50)) if o.ran] == []


def test_cli_run_follows_releases_even_after_a_failure(conf, tmp_path) -> None:
    folder = conf(CHAIN)
    done = run_cli("run", "extract", "-c", str(folder), "-p", "fail=yes", "--json")
    assert done.returncode == 1, done.stderr
    document = json.loads(done.stdout)
    assert document["status"] == "FAILED"
    followers = {f["workflow"]: f for f in document["followers"]}
    load = followers["load"]
    assert load["status"] == "SUCCESS"
    assert stage_outputs(load["context"])["upstream_run"] == document["run_id"]
    assert stage_outputs(load["context"])["upstream_status"] == "FAILED"
    assert load["context"]["jobs"]["j"]["stages"]["only-on-success"]["status"] == "SKIP"
    assert stage_outputs(followers["report"]["context"]) == {"after": "load"}
    ok = run_cli("run", "extract", "-c", str(folder))
    assert ok.returncode == 0, ok.stderr
    assert "of load: SUCCESS" in ok.stdout and "of report: SUCCESS" in ok.stdout


LOOP = """
a:
  type: Workflow
  on: {release: [b]}
  jobs: {j: {stages: [{id: s, echo: x}]}}
b:
  type: Workflow
  on: {release: [a]}
  jobs: {j: {stages: [{id: s, echo: x}]}}
c:
  type: Workflow
  on: {release: [extrct]}
  jobs: {j: {stages: [{id: s, echo: x}]}}
extract:
  type: Workflow
  jobs: {j: {stages: [{id: s, echo: x}]}}
"""


def test_loops_and_unknown_upstreams_are_refused(conf) -> None:
    folder = conf(LOOP)
    checked = run_cli("validate", str(folder))
    assert checked.returncode == 2
    assert "[release-loop]" in checked.stdout and "on.release forms a loop: " in checked.stdout
    assert "a -> b -> a" in checked.stdout or "b -> a -> b" in checked.stdout
    assert "on.release names unknown workflow 'extrct' (did you mean 'extract'?)" in checked.stdout
    refused = run_cli("run", "a", "-c", str(folder))
    assert refused.returncode == 2 and "on.release forms a loop" in refused.stderr
    assert run_cli("run", "extract", "-c", str(folder)).returncode == 0  # an unrelated loop


def test_scheduler_leaves_out_workflows_in_a_loop(conf, caplog) -> None:
    folder = conf(
        LOOP.replace(
            "a:\n  type: Workflow\n  on: {release: [b]}",
            'a:\n  type: Workflow\n  on: {schedule: [{cronjob: "* * * * *"}], release: [b]}',
        )
    )
    scheduler = Scheduler(folder, clock=SimulatedClock(T0 + timedelta(seconds=30)), max_workers=1)
    with caplog.at_level("ERROR", logger="runwright.scheduler"):
        outcomes = scheduler.run(until=T0 + timedelta(minutes=1, seconds=30))
    assert [o.workflow for o in outcomes] == ["a"]
    assert "on.release forms a loop" in caplog.text
