"""``runs-on:``: the forms runwright accepts, and a clear refusal of the peer's other ones."""

from __future__ import annotations

import pytest
from runwright import Status
from runwright.errors import TemplateError
from runwright.models.runs_on import RunsOn, parse_executor_setting


def test_local_forms_run_in_this_process(workflow_from) -> None:
    result = workflow_from("""
    forms:
      type: Workflow
      runs-on: local
      jobs:
        a: {runs-on: local, stages: [{id: s, run: "x = 1"}]}
        b: {runs-on: {type: local}, stages: [{id: s, run: "x = 2"}]}
        c: {runs-on: {type: local, with: {}}, stages: [{id: s, run: "x = 3"}]}
    """).execute()
    assert result.status is Status.SUCCESS
    assert [result.context["jobs"][j]["stages"]["s"]["outputs"]["x"] for j in "abc"] == [1, 2, 3]


@pytest.mark.parametrize(
    "form", ["self_hosted", "{type: self-hosted, with: {host: 'x'}}", "{type: docker}", "{type: aws_batch}"]
)
def test_peer_only_forms_are_refused_naming_the_runwright_way(workflow_from, form: str) -> None:
    with pytest.raises(TemplateError) as caught:
        workflow_from(f"""
        peer:
          type: Workflow
          jobs:
            j: {{runs-on: {form}, stages: [{{id: s, echo: x}}]}}
        """)
    message = str(caught.value)
    assert "jobs.j.runs-on" in message
    assert "is not supported" in message and "{type: dask, address:" in message


def test_an_unknown_executor_names_the_installed_ones(workflow_from) -> None:
    with pytest.raises(TemplateError) as caught:
        workflow_from("""
        unknown:
          type: Workflow
          runs-on: {type: kubernetes}
          jobs:
            j: {stages: [{id: s, echo: x}]}
        """)
    message = str(caught.value)
    assert "'kubernetes' is not an installed executor" in message
    assert "dask" in message and "local" in message


def test_local_takes_no_address(workflow_from) -> None:
    with pytest.raises(TemplateError, match="takes no address"):
        workflow_from("""
        bad:
          type: Workflow
          jobs:
            j: {runs-on: {type: local, address: "tcp://x:1"}, stages: [{id: s, echo: x}]}
        """)


def test_the_peers_with_spelling_carries_dask_options() -> None:
    runs_on = RunsOn.model_validate(
        {"type": "dask", "with": {"address": "tcp://10.0.0.5:8786", "retries": 1}}
    )
    assert (runs_on.type, runs_on.address, runs_on.retries) == ("dask", "tcp://10.0.0.5:8786", 1)


def test_runwright_executor_setting_forms() -> None:
    assert parse_executor_setting(None).type == "local"
    assert parse_executor_setting("dask").model_dump() == {"type": "dask", "address": None, "retries": 0}
    assert parse_executor_setting("dask:tcp://10.0.0.5:8786").address == "tcp://10.0.0.5:8786"
    assert parse_executor_setting('{"type": "dask", "retries": 2}').retries == 2
    with pytest.raises(ValueError, match="RUNWRIGHT_EXECUTOR='docker'.*not supported"):
        parse_executor_setting("docker")
