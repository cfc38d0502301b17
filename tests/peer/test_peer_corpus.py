"""The peer's (ddeutil-workflow) own test and docs templates, ported only by the renames that
docs/coming-from-ddeutil-workflow.md lists, give the statuses and outputs its tests expect.

Where runwright differs by design the assertion says so (``# runwright:``): stage keys are the
slug of the stage name (not a hash), matrix strategies are keyed by their values, bash's empty
stderr is ``""``, and functions are not outputs.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from runwright import Status, Workflow
from runwright.config import Settings
from runwright.plugins import get_plugin_manager
from runwright.runtime import Runtime

from tests.test_py_venv_stage import write_wheel

CONF = Path(__file__).parent / "conf"


@pytest.fixture
def peer(monkeypatch: pytest.MonkeyPatch):
    """Load a ported template by name, with the call functions its templates use."""
    monkeypatch.setenv("RUNWRIGHT_REGISTRY", "tests.peer.registry")
    settings = Settings.from_env()
    runtime = Runtime(get_plugin_manager(settings), settings)

    def load(name: str) -> Workflow:
        return Workflow.from_conf(name, CONF, runtime=runtime)

    return load


def stages(result, job: str) -> dict:
    return result.context["jobs"][job]["stages"]


def test_the_whole_corpus_loads_including_the_empty_file(peer) -> None:
    names = [
        "wf-run-common",
        "wf-run-python",
        "wf-run-python-raise",
        "wf-run-python-filter",
        "wf-run-depends",
        "wf-run-depends-condition",
        "wf-trigger",
        "wf-skip",
        "wf-run-matrix",
        "wf-run-matrix-parallel",
        "wf-run-matrix-raise",
        "wf-run-matrix-fail-fast",
        "wf-raise-for-job-first",
        "wf-raise-for-job-final",
        "wf-raise-for-job-complete",
        "docs-stages",
        "docs-deps",
        "wf-run-common-demo-run",
        "wf-mixed-conditions",
    ]
    assert [peer(name).name for name in names] == names
    assert (CONF / "demo" / "01_99_wf_empty.yml").read_text() == ""


def test_wf_run_common(peer) -> None:
    result = peer("wf-run-common").execute({"name": "Foo"})
    assert result.status is Status.FAILED  # raise-run, next-run and bash-run-env fail, as in the peer
    assert "demo-run" not in result.context["jobs"]  # ported on its own: wf-run-common-demo-run
    raised = stages(result, "raise-run")["raise-error"]
    assert raised["status"] == "FAILED"
    assert raised["errors"][0]["name"] == "ValueError"
    assert raised["errors"][0]["message"] == "Testing raise error inside PyStage!!!"
    assert stages(result, "next-run")["set-variable-and-function"]["errors"][0]["name"] == "SyntaxError"
    assert stages(result, "bash-run")["echo"]["outputs"]["stdout"] == "Hello World\nVariable Foo"
    env = stages(result, "bash-run-env")
    assert env["echo-env"]["outputs"] == {
        "return_code": 0,
        "stdout": "Hello World\nVariable Foo\nENV Bar",
        "stderr": "",  # runwright: "" where the peer gives None
    }
    assert env["raise-error"]["status"] == "FAILED"
    assert env["raise-error"]["outputs"]["stderr"] == "Test Raise Error case with failed"


def test_wf_run_python(peer) -> None:
    result = peer("wf-run-python").execute({"author-run": "Local Workflow", "run-date": "2024-01-01"})
    assert result.status is Status.SUCCESS, result.errors
    assert result.context["params"]["author-run"] == "Local Workflow"
    assert result.context["params"]["run-date"].isoformat().startswith("2024-01-01T00:00:00")
    first = stages(result, "first-job")
    assert first["printing"] == {"status": "SUCCESS", "outputs": {"x": "Local Workflow"}}
    second = stages(result, "second-job")
    # runwright: functions are not outputs (the peer also lists "echo": "echo")
    assert second["create-func"]["outputs"] == {"var_inside": "Create Function Inside"}
    assert second["call-func"] == {"status": "SUCCESS", "outputs": {}}
    assert second["final-of-next-running-job"] == {"status": "SUCCESS", "outputs": {}}
    assert stages(result, "final-job")["echo-hello-world"]["outputs"]["stdout"] == "Hello World"


def test_wf_run_python_raise(peer) -> None:
    result = peer("wf-run-python-raise").execute({}, max_job_parallel=1)
    assert result.status is Status.FAILED
    first = result.context["jobs"]["first-job"]
    assert first["status"] == "FAILED"
    assert first["stages"]["raise-error"]["errors"][0] == {
        "job": "first-job",
        "stage": "raise-error",
        "name": "ValueError",
        "message": "Testing raise error inside PyStage!!!",
    }
    second = result.context["jobs"]["second-job"]
    assert second["status"] == "SUCCESS"
    assert second["stages"] == {"echo-hello-world": {"status": "SUCCESS", "outputs": {}}}


def test_wf_run_python_filter_keeps_no_classes_or_functions(peer) -> None:
    result = peer("wf-run-python-filter").execute()
    assert result.status is Status.SUCCESS, result.errors
    assert (
        stages(result, "create-job")["create-stage"]["outputs"] == {}
    )  # runwright: the peer keeps check_rank


@pytest.mark.parametrize("parallel", [1, 3])
def test_wf_run_depends(peer, parallel) -> None:
    result = peer("wf-run-depends").execute({}, max_job_parallel=parallel)
    assert result.status is Status.SUCCESS, result.errors
    assert {job: record["status"] for job, record in result.context["jobs"].items()} == {
        "first-job": "SUCCESS",
        "second-job": "SUCCESS",
        "final-job": "SUCCESS",
    }


def test_wf_run_depends_condition(peer) -> None:
    result = peer("wf-run-depends-condition").execute()
    assert result.status is Status.SUCCESS, result.errors
    jobs = result.context["jobs"]
    assert jobs["second-job"]["status"] == "SKIP"
    assert jobs["first-job"]["status"] == "SKIP"
    assert jobs["final-job"]["status"] == "SUCCESS"


def test_wf_trigger(peer) -> None:
    result = peer("wf-trigger").execute()
    assert result.status is Status.SUCCESS, result.errors
    triggered = stages(result, "trigger-job")["trigger-stage"]["outputs"]
    assert triggered["status"] == "SUCCESS"
    assert triggered["params"]["author-run"] == "Trigger Runner"
    assert triggered["jobs"]["first-job"]["stages"]["printing"]["outputs"] == {"x": "Trigger Runner"}


def test_wf_skip(peer) -> None:
    result = peer("wf-skip").execute()
    # runwright: a job that ran with every stage skipped by its own if: is SUCCESS (as in GitHub
    # Actions), so the workflow is SUCCESS; the peer says SKIP. The stage itself is SKIP in both.
    assert result.status is Status.SUCCESS
    assert result.context["jobs"]["first-job"]["status"] == "SUCCESS"
    assert stages(result, "first-job")["skip-stage"]["status"] == "SKIP"


PEER_MATRICES = [
    {"table": "customer", "system": "csv", "partition": 2},
    {"table": "customer", "system": "csv", "partition": 3},
    {"table": "sales", "system": "csv", "partition": 1},
    {"table": "sales", "system": "csv", "partition": 2},
    {"table": "customer", "system": "csv", "partition": 4},
]


@pytest.mark.parametrize("name", ["wf-run-matrix", "wf-run-matrix-parallel"])
def test_wf_run_matrix(peer, name) -> None:
    result = peer(name).execute({"source": "src", "target": "tgt"})
    assert result.status is Status.SUCCESS, result.errors
    strategies = result.context["jobs"]["multiple-system"]["strategies"]
    assert sorted((s["matrix"] for s in strategies.values()), key=str) == sorted(PEER_MATRICES, key=str)
    for strategy in strategies.values():
        assert strategy["status"] == "SUCCESS"
        assert strategy["stages"]["end-stage"]["outputs"] == {"passing_value": 10}
        assert [s["outputs"] for k, s in strategy["stages"].items() if k != "end-stage"] == [{"records": 1}]


def test_wf_run_matrix_raise_completes_every_strategy(peer) -> None:
    result = peer("wf-run-matrix-raise").execute({"name": "x"})
    assert result.status is Status.FAILED
    strategies = result.context["jobs"]["multiple-system"]["strategies"]
    statuses = {(s["matrix"]["table"], s["matrix"]["partition"]): s["status"] for s in strategies.values()}
    assert statuses == {
        ("customer", 2): "SUCCESS",
        ("customer", 3): "SUCCESS",
        ("sales", 1): "FAILED",
        ("sales", 2): "SUCCESS",
        ("customer", 4): "SUCCESS",
    }
    assert "Value of partition matrix was equaled 1." in result.errors[0]["message"]


def test_wf_run_matrix_fail_fast(peer) -> None:
    result = peer("wf-run-matrix-fail-fast").execute({"name": "x"})
    assert result.status is Status.FAILED
    strategies = result.context["jobs"]["multiple-system"]["strategies"].values()
    failed = [s for s in strategies if s["status"] == "FAILED"]
    assert [s["matrix"]["partition"] for s in failed] == [1]


def test_wf_raise_for_job_first_and_final(peer) -> None:
    first = peer("wf-raise-for-job-first").execute()
    assert first.context["jobs"]["first-job"]["status"] == "FAILED"
    assert first.context["jobs"]["second-job"]["status"] == "SUCCESS"  # an unrelated job is not cancelled
    final = peer("wf-raise-for-job-final").execute()
    strategies = final.context["jobs"]["final-job"]["strategies"]
    assert final.status is Status.FAILED
    assert "FAILED" in {s["status"] for s in strategies.values()}
    for strategy in strategies.values():
        assert "echo-hello-world-2" not in strategy["stages"] or strategy["stages"]["echo-hello-world-2"][
            "status"
        ] in ("CANCEL", "SKIP")


def test_wf_raise_for_job_complete(peer) -> None:
    result = peer("wf-raise-for-job-complete").execute(max_job_parallel=1)
    expected = {0.1: "success", 5: "fast-success", 1: "fast-success"}
    for job in ("job-complete", "job-complete-not-parallel", "job-fail-fast"):
        record = result.context["jobs"][job]
        assert record["status"] == "SUCCESS", (job, record)
        outputs = {
            s["matrix"]["sleep"]: s["stages"]["success"]["outputs"] for s in record["strategies"].values()
        }
        assert outputs == {sleep: {"result": value} for sleep, value in expected.items()}
    raised = result.context["jobs"]["job-complete-raise"]
    assert raised["status"] == "FAILED"
    by_sleep = {s["matrix"]["sleep"]: s for s in raised["strategies"].values()}
    assert by_sleep[0.1]["stages"]["raise-error"]["outputs"] == {"result": "success"}
    for sleep in (0.4, 0.2):
        assert by_sleep[sleep]["stages"]["raise-error"]["errors"][0]["message"] == (
            "Testing raise error inside PyStage!!!"
        )


def test_docs_stages(peer) -> None:
    wf = peer("docs-stages")
    result = wf.execute()
    assert result.status is Status.SUCCESS, result.errors
    basics = stages(result, "basics")
    assert basics["debug-info"]["status"] == "SKIP"
    assert (
        basics["process-files"]["outputs"]["stdout"]
        == "Processing files in /data/input\nWriting to /data/output"
    )
    assert stages(result, "environment-setup")["setup"]["outputs"]["matched"] == "staging"
    items = stages(result, "index")["each"]["outputs"]["foreach"]
    assert [items[k]["stages"]["process"]["outputs"]["seen"] for k in ("0", "1", "2")] == [
        "a@0",
        "b@1",
        "c@2",
    ]
    wait = stages(result, "wait")["wait"]["outputs"]
    assert wait["loops"] == 3
    assert stages(result, "failing")["conditional-error"]["status"] == "SKIP"
    other = wf.execute({"environment": "qa", "simulate_failure": True, "debug_mode": True})
    assert stages(other, "environment-setup")["setup"]["outputs"]["matched"] == "_"
    assert stages(other, "basics")["debug-info"]["status"] == "SUCCESS"
    assert stages(other, "failing")["conditional-error"]["errors"][0]["message"] == (
        "Simulated failure for testing error paths"
    )


@pytest.mark.skipif(shutil.which("uv") is None, reason="needs uv on PATH")
def test_docs_deps(peer, tmp_path, monkeypatch) -> None:
    write_wheel(tmp_path / "wheels")
    monkeypatch.setenv("RUNWRIGHT_VENV_DIR", str(tmp_path / "venvs"))
    monkeypatch.setenv("UV_FIND_LINKS", str(tmp_path / "wheels"))
    monkeypatch.setenv("UV_OFFLINE", "1")
    monkeypatch.setenv("UV_NO_INDEX", "1")
    monkeypatch.setenv("UV_PYTHON", sys.executable)
    result = peer("docs-deps").execute()
    assert result.status is Status.SUCCESS, result.errors
    assert stages(result, "analysis")["analysis"]["outputs"] == {"shape": "hello docs from tiny"}


@pytest.mark.parametrize(
    ("name", "matched", "stage"),
    [
        ("bar", "bar", "match-name-with-bar"),
        ("foo", "foo", "match-name-with-foo"),
        ("test", "_", "else-stage"),
    ],
)
def test_case_stage(peer, name, matched, stage) -> None:
    result = peer("peer-case").execute({"name": name})
    assert result.status is Status.SUCCESS, result.errors
    outputs = stages(result, "j")["case-stage"]["outputs"]
    # runwright: `case` is the value; `matched` is the branch (the peer puts "_" in `case`)
    assert outputs["case"] == name and outputs["matched"] == matched
    assert outputs["stages"] == {stage: {"status": "SUCCESS", "outputs": {}}}


def test_case_stage_else(peer) -> None:
    outputs = stages(peer("peer-case-else").execute({"name": "test"}), "j")["case-stage"]["outputs"]
    assert outputs["matched"] == "_"
    assert outputs["stages"] == {"else-stage": {"status": "SUCCESS", "outputs": {}}}


def test_case_stage_raise(peer) -> None:
    no_match = peer("peer-case-raise").execute({"name": "test"})
    assert no_match.status is Status.FAILED
    assert stages(no_match, "no-else")["raise-else"]["status"] == "FAILED"
    nested = peer("peer-case-raise").execute({"name": "bar"})
    record = stages(nested, "nested-raise")["raise-else"]
    assert record["status"] == "FAILED"
    assert record["errors"][0]["message"] == "Raise with bar"
    assert record["outputs"]["stages"]["raise-stage"]["status"] == "FAILED"


def test_wf_run_common_demo_run_reassigned_vars_are_outputs(peer) -> None:
    """The peer's test_job_exec_py: a ``vars:`` name the code reassigns is an output."""
    result = peer("wf-run-common-demo-run").execute({"name": "Foo"})
    assert result.status is Status.SUCCESS, result.errors
    demo = stages(result, "demo-run")
    assert demo["hello-world"]["outputs"] == {"x": "New Name"}
    assert demo["run-var"]["outputs"] == {"x": 1}


def test_mixed_conditions_in_if_and_until(peer) -> None:
    """``${{ matrix.sleep }} == 1`` and ``${{ item }} > 2`` compare, as in the peer."""
    result = peer("wf-mixed-conditions").execute()
    assert result.status is Status.SUCCESS, result.errors
    strategies = result.context["jobs"]["job-stage-condition"]["strategies"]
    assert strategies["1"]["stages"]["equal-one"]["outputs"] == {"result": "pass-condition"}
    assert strategies["1"]["stages"]["not-equal-one"]["status"] == "SKIP"
    assert strategies["5"]["stages"]["equal-one"]["status"] == "SKIP"
    assert strategies["5"]["stages"]["not-equal-one"]["outputs"] == {"result": "not-equal-1-condition"}
    until = stages(result, "until-stage")["until"]["outputs"]
    assert until["loops"] == 2
    assert [loop["item"] for loop in until["until"].values()] == [1, 2]
    foreach = stages(result, "foreach-all-skipped")["foreach-stage"]
    # runwright: the foreach stage ran and nothing in it failed, so it is SUCCESS (the peer: SKIP)
    assert foreach["status"] == "SUCCESS"
    assert [item["status"] for item in foreach["outputs"]["foreach"].values()] == ["SKIP"] * 3


def test_trigger_of_a_skipped_workflow(peer) -> None:
    result = peer("peer-trigger-skip").execute()
    record = stages(result, "j")["trigger"]
    # runwright: the trigger stage ran the workflow, so it is SUCCESS and carries the child's status:
    # SUCCESS, since a job whose stages were all skipped succeeds (the peer makes both SKIP)
    assert record["status"] == "SUCCESS"
    assert record["outputs"]["status"] == "SUCCESS"
    assert record["outputs"]["jobs"]["first-job"]["stages"]["skip-stage"]["status"] == "SKIP"
