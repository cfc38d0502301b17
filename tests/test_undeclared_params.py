"""Undeclared params: an error with did-you-mean when close to a declared one, else a warning."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime, timedelta

import pytest
from runwright import Schedule, Status
from runwright.errors import ParamError, UndeclaredParamWarning
from runwright.schedule.clock import SimulatedClock

from tests.conftest import run_cli

WORKFLOW = """
greet:
  type: Workflow
  on:
    - cronjob: '*/5 * * * *'
  params:
    name: {type: str, default: World}
    source-extract: {type: str, default: x}
  jobs:
    j:
      stages:
        - {id: s, run: "greeting = 'Hello ' + ${{ params.name }}"}
"""


@pytest.mark.parametrize(
    ("given", "typo", "meant"),
    [
        ({"nmae": "Ada"}, "nmae", "name"),
        ({"Name": "Ada"}, "Name", "name"),
        ({"source_extract": "USD"}, "source_extract", "source-extract"),
    ],
)
def test_close_typo_is_an_error_with_did_you_mean(workflow_from, given, typo, meant) -> None:
    wf = workflow_from(WORKFLOW)
    with pytest.raises(ParamError) as caught:
        wf.execute(given)
    message = str(caught.value)
    assert f"param '{typo}'" in message and f"did you mean '{meant}'" in message


def test_far_undeclared_param_warns_and_still_runs(workflow_from) -> None:
    wf = workflow_from(WORKFLOW)
    with pytest.warns(UndeclaredParamWarning, match="'asat-dt' is not declared"):
        result = wf.execute({"name": "Ada", "asat-dt": "2024-01-01"})
    assert result.status is Status.SUCCESS, result.errors
    assert result.context["params"]["asat-dt"] == "2024-01-01"
    assert result.context["jobs"]["j"]["stages"]["s"]["outputs"] == {"greeting": "Hello Ada"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        wf.execute({"name": "Ada"})  # declared params only: no warning


def test_release_and_scheduler_refuse_a_typo(workflow_from, conf, monkeypatch) -> None:
    wf = workflow_from(WORKFLOW)
    outcome = wf.release(datetime(2024, 1, 1, tzinfo=UTC), {"nmae": "Ada"})
    assert outcome.status == "FAILED"
    assert "did you mean 'name'" in outcome.record.errors[0]["message"]
    folder = conf(
        WORKFLOW
        + """
nightly:
  type: Schedule
  workflows:
    - name: greet
      params: {nmae: Ada}
""",
    )
    monkeypatch.setenv("RUNWRIGHT_CONF", str(folder))
    start = datetime(2024, 1, 2, tzinfo=UTC)
    outcomes = Schedule.from_loader("nightly").pending(
        stop=start + timedelta(minutes=6), clock=SimulatedClock(start + timedelta(minutes=1))
    )
    assert outcomes and {o.status for o in outcomes} == {"FAILED"}
    assert all("did you mean 'name'" in o.record.errors[0]["message"] for o in outcomes)


def test_cli_typo_exits_2_and_far_param_warns(conf) -> None:
    folder = conf(WORKFLOW)
    typo = run_cli("run", "greet", "-p", "nmae=Ada", "--conf", str(folder))
    assert typo.returncode == 2, typo.stderr
    assert "param 'nmae'" in typo.stderr and "did you mean 'name'" in typo.stderr
    assert "Traceback" not in typo.stderr
    far = run_cli("run", "greet", "-p", "asat-dt=2024-01-01", "--conf", str(folder))
    assert far.returncode == 0, far.stderr
    assert far.stderr.count("'asat-dt' is not declared") == 1
    assert "warning:" in far.stderr and "Warning:" not in far.stderr
