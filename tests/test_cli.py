"""The command line: exit codes, --json purity, validate, schema; never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.conftest import REPO, run_cli

GOOD = """
ok-wf:
  type: Workflow
  params: {n: int}
  jobs:
    j:
      stages:
        - id: s
          bash: echo "n is ${{ params.n }}"
"""
FAILING = """
bad-run:
  type: Workflow
  jobs:
    j:
      stages:
        - id: s
          raise: "no luck"
"""


def test_run_success_failure_and_usage_errors(conf) -> None:
    folder = conf(GOOD + FAILING)
    ok = run_cli("run", "ok-wf", "-p", "n=3", "--conf", str(folder))
    assert ok.returncode == 0, ok.stderr
    assert "ok-wf: SUCCESS" in ok.stdout
    failed = run_cli("run", "bad-run", "--conf", str(folder))
    assert failed.returncode == 1
    assert "RaisedError: no luck" in failed.stderr
    for args, words in [
        (("run", "nope", "--conf", str(folder)), "no template named 'nope'"),
        (("run", "ok-wf", "--conf", str(folder)), "param 'n': is required"),
        (
            ("run", "ok-wf", "-p", "n=three", "--conf", str(folder)),
            "param 'n': expected an integer",
        ),
        (("run", "ok-wf", "-p", "n", "--conf", str(folder)), "-p expects KEY=VALUE"),
        (("run", "ok-wf", "--conf", str(folder / "missing")), "does not exist"),
    ]:
        result = run_cli(*args)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert words in result.stderr
        assert "Traceback" not in result.stderr
        assert result.stdout == ""


def test_invalid_template_exits_2(conf) -> None:
    folder = conf("broken:\n  type: Workflow\n  jobs: {j: {stages: [{name: x, eche: y}]}}\n")
    result = run_cli("run", "broken", "--conf", str(folder))
    assert result.returncode == 2
    assert "did you mean 'echo'" in result.stderr and "Traceback" not in result.stderr


def test_json_output_is_one_document(conf) -> None:
    folder = conf(GOOD + FAILING)
    result = run_cli("run", "ok-wf", "-p", "n=5", "--conf", str(folder), "--json")
    document = json.loads(result.stdout)
    assert set(document) == {"run_id", "status", "context", "errors"}
    assert document["status"] == "SUCCESS"
    assert document["context"]["params"] == {"n": 5}
    assert document["context"]["jobs"]["j"]["stages"]["s"]["outputs"]["stdout"] == "n is 5"
    failed = run_cli("run", "bad-run", "--conf", str(folder), "--json")
    assert failed.returncode == 1
    assert json.loads(failed.stdout)["errors"][0]["message"] == "no luck"


def test_json_output_masks_secrets(conf) -> None:
    folder = conf("""
    leaky:
      type: Workflow
      jobs:
        j:
          stages:
            - id: s
              bash: echo "the key is $MY_SECRET_KEY"
              env: {MY_SECRET_KEY: "${SERVICE_SECRET_KEY}"}
    """)
    result = run_cli(
        "run", "leaky", "--conf", str(folder), "--json", env={"SERVICE_SECRET_KEY": "s3cr3t-value"}
    )
    assert result.returncode == 0, result.stderr
    assert "s3cr3t-value" not in result.stdout
    assert (
        json.loads(result.stdout)["context"]["jobs"]["j"]["stages"]["s"]["outputs"]["stdout"]
        == "the key is ***"
    )


def test_validate_reports_all_problems_of_all_files(conf) -> None:
    conf(GOOD, "a-good.yml")
    folder = conf(
        """
    one:
      type: Workflow
      jobs: {j: {stages: [{name: x, eche: y}]}}
    two:
      type: Workflow
      jobs: {j: {needs: [nope], stages: [{name: x, echo: y}]}}
    """,
        "b-bad.yml",
    )
    conf("three:\n  type: Workflow\n  jobs: {j: {stages: [{name: x, baash: y}]}}\n", "c-bad.yml")
    result = run_cli("validate", str(folder))
    assert result.returncode == 2
    assert "template 'one'" in result.stdout and "template 'two'" in result.stdout
    assert "b-bad.yml:4:" in result.stdout and "c-bad.yml:3:" in result.stdout
    assert "[stage-kind]" in result.stdout and "[needs]" in result.stdout
    good = run_cli("validate", str(folder / "a-good.yml"))
    assert good.returncode == 0 and "1 template(s)" in good.stdout


def test_validate_the_shipped_examples() -> None:
    env = {"API_ACCESS_REFRESH_TOKEN": "x", "AWS_ACCESS_CLIENT_ID": "x", "AWS_ACCESS_CLIENT_SECRET": "x"}
    result = run_cli("validate", str(REPO / "conf"), env=env)
    assert result.returncode == 0, result.stderr


def test_schema_is_generated_and_describes_templates(tmp_path: Path) -> None:
    result = run_cli("schema")
    assert result.returncode == 0
    schema = json.loads(result.stdout)
    defs = schema["$defs"]
    assert {"Workflow", "Job", "Stage", "BashStage", "EchoStage", "CallStage"} <= set(defs)
    assert defs["Job"]["properties"]["stages"]["items"] == {"$ref": "#/$defs/Stage"}
    assert "trigger-rule" in defs["Job"]["properties"]
    assert defs["Workflow"]["additionalProperties"] is False
    kinds = {ref["$ref"].rsplit("/", 1)[1] for ref in defs["Stage"]["oneOf"]}
    assert {"BashStage", "PyStage", "RaiseStage"} <= kinds
    # the schema accepts the seed example and rejects a typo, checked with a real validator
    import jsonschema

    seed = yaml.safe_load((REPO / "conf" / "examples" / "run-py-local.yml").read_text())
    seed["run-py-local"]["on"] = seed["run-py-local"].pop(True, seed["run-py-local"].get("on"))
    jsonschema.validate(seed, schema)
    bad = {"wf": {"type": "Workflow", "jobs": {"j": {"stages": [{"name": "x", "eche": "y"}]}}}}
    try:
        jsonschema.validate(bad, schema)
    except jsonschema.ValidationError:
        pass
    else:  # pragma: no cover - the assertion is the failure
        raise AssertionError("schema accepted an unknown stage key")


def test_dry_run_checks_and_runs_nothing(conf, tmp_path) -> None:
    marker = tmp_path / "touched"
    folder = conf(f"""
    dry:
      type: Workflow
      params: {{name: str}}
      jobs:
        j:
          stages:
            - {{id: side, bash: "touch {marker}"}}
            - {{id: greet, uses: tasks/greet@local, with: {{name: "${{{{ params.name }}}}", times: 2}}}}
    """)
    ok = run_cli("run", "dry", "-p", "name=Ada", "--dry-run", "--conf", str(folder))
    assert ok.returncode == 0, ok.stderr
    assert "ok  jobs.j.stages.greet: tasks/greet@local(name: str, times: int = 1)" in ok.stdout
    assert "dry run: SUCCESS" in ok.stdout
    bad = run_cli("run", "dry", "--dry-run", "--conf", str(folder), "--json")
    assert bad.returncode == 1
    checks = json.loads(bad.stdout)["checks"]
    assert checks[0] == {
        "where": "params",
        "ok": False,
        "message": "workflow 'dry': param 'name': is required (a str value) but was not given",
    }
    assert not marker.exists()
    assert run_cli("audit", "list", "--json").stdout.strip() == "[]"


def test_committed_editor_schema_is_current() -> None:
    """docs/runwright.schema.json is what `runwright schema` generates (regenerate with -o)."""
    generated = json.loads(run_cli("schema").stdout)
    committed = json.loads((REPO / "docs" / "runwright.schema.json").read_text())
    assert committed == generated


def test_audit_list_since_takes_durations_and_words() -> None:
    """``--since PT6H`` (an ISO duration back from now), ``yesterday``/``today`` (local midnight)."""
    from datetime import datetime, timedelta

    from runwright.audit import ReleaseStatus, make_audit_backend

    from tests.audit.conftest import make_record

    now = datetime.now().astimezone()
    ages = {"one-hour-ago": 1, "seven-hours-ago": 7, "three-days-ago": 72}
    store = make_audit_backend()
    for name, hours in ages.items():
        started = now - timedelta(hours=hours)
        store.claim(make_record(workflow=name, started=started, status=ReleaseStatus.SUCCESS))

    def listed(since: str) -> set[str]:
        done = run_cli("audit", "list", "--since", since, "--json")
        assert done.returncode == 0, done.stderr
        return {record["workflow"] for record in json.loads(done.stdout)}

    assert listed("PT6H") == {"one-hour-ago"}
    assert listed("P2D") == {"one-hour-ago", "seven-hours-ago"}
    assert listed("yesterday") == {"one-hour-ago", "seven-hours-ago"}
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    assert listed("today") == {n for n, h in ages.items() if now - timedelta(hours=h) >= midnight}
    bad = run_cli("audit", "list", "--since", "last week")
    assert bad.returncode == 2
    assert "--since" in bad.stderr and "PT6H" in bad.stderr and "Traceback" not in bad.stderr


def test_help_text_is_rendered_as_written() -> None:
    """Brackets in a docstring are text (not markup) and flags show no ``<bool>`` type."""
    backfill = run_cli("backfill", "--help")
    assert backfill.returncode == 0
    assert "[start, end]" in backfill.stdout
    run = run_cli("run", "--help")
    assert "--dry-run" in run.stdout and "<bool>" not in run.stdout
