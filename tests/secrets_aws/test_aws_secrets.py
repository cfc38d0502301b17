"""runwright-secrets-aws against moto's standalone server on 127.0.0.1 (as the S3 tests are):
``${NAME}`` read from AWS Secrets Manager, masked, not stored, read again on rerun, and known to
``validate`` by name."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import boto3
import pytest
from runwright.audit import make_audit_backend

from tests.conftest import run_cli
from tests.requests_plugin.conftest import AWS_KEY_ID, AWS_SECRET, moto_endpoint  # noqa: F401 - a fixture

WORKFLOW = """
from-aws:
  type: Workflow
  params:
    token: {{type: str, default: "${{API_TOKEN}}"}}
  jobs:
    j:
      stages:
        - id: use
          bash: 'printf %s "$T|$DSN" > {seen}; echo "token $T"; test -e {gate}'
          env: {{T: "${{{{ params.token }}}}", DSN: "${{WAREHOUSE_DSN}}"}}
"""


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch):  # noqa: F811
    """A fresh prefix of secrets in moto; the CLI's environment pointing at it."""
    prefix = f"etl-{uuid.uuid4().hex[:8]}/"
    env = {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": AWS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": AWS_SECRET,
        "AWS_DEFAULT_REGION": "us-east-1",
        "RUNWRIGHT_AWS_SECRETS_PREFIX": prefix,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("API_TOKEN", raising=False)
    monkeypatch.delenv("WAREHOUSE_DSN", raising=False)
    monkeypatch.delenv("RUNWRIGHT_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    client = boto3.client("secretsmanager", endpoint_url=moto_endpoint, region_name="us-east-1")
    return prefix, client


def test_values_come_from_secrets_manager_masked_and_are_read_again_on_rerun(
    aws, conf, tmp_path: Path
) -> None:
    prefix, client = aws
    client.create_secret(Name=f"{prefix}API_TOKEN", SecretString="tok-FromAws-31337")
    client.create_secret(Name=f"{prefix}WAREHOUSE_DSN", SecretString="dsn://etl:pw-Aws-99@wh")
    client.create_secret(Name="other-team/API_TOKEN", SecretString="not-ours-00000")
    seen, gate = tmp_path / "seen", tmp_path / "gate"
    folder = conf(WORKFLOW.format(seen=seen, gate=gate))

    checked = run_cli("validate", "--conf", str(folder), "--strict-env", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    first = run_cli("run", "from-aws", "--conf", str(folder), "--json", cwd=tmp_path)
    assert first.returncode == 1, first.stderr  # the gate is shut
    assert seen.read_text() == "tok-FromAws-31337|dsn://etl:pw-Aws-99@wh"
    document = json.loads(first.stdout)
    record = make_audit_backend().get(document["run_id"])
    assert record is not None and record.params == {"token": "***"}
    logs = "".join(p.read_text() for p in tmp_path.rglob("*.jsonl"))
    assert "token ***" in logs
    for text in (first.stdout, first.stderr, logs, record.model_dump_json()):
        assert "tok-FromAws-31337" not in text and "pw-Aws-99" not in text

    client.put_secret_value(SecretId=f"{prefix}API_TOKEN", SecretString="tok-Rotated-24680")
    gate.touch()
    again = run_cli("rerun", document["run_id"], "--conf", str(folder), "--json", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert seen.read_text() == "tok-Rotated-24680|dsn://etl:pw-Aws-99@wh"


def test_validate_names_the_store_for_a_secret_it_does_not_hold(aws, conf, tmp_path: Path) -> None:
    prefix, client = aws
    client.create_secret(Name=f"{prefix}API_TOKEN", SecretString="tok-FromAws-31337")
    folder = conf(WORKFLOW.format(seen=tmp_path / "seen", gate=tmp_path / "gate"))
    checked = run_cli("validate", "--conf", str(folder), "--strict-env", cwd=tmp_path)
    assert checked.returncode == 2  # invalid: an error with --strict-env
    assert "[env-missing]" in checked.stdout and "WAREHOUSE_DSN" in checked.stdout
    assert "API_TOKEN" not in checked.stdout
    assert f"AWS Secrets Manager (names starting '{prefix}')" in checked.stdout


def test_an_unreachable_store_is_a_clear_error(aws, conf, tmp_path: Path, unused_port: int) -> None:
    folder = conf(WORKFLOW.format(seen=tmp_path / "seen", gate=tmp_path / "gate"))
    done = run_cli(
        "run",
        "from-aws",
        "--conf",
        str(folder),
        cwd=tmp_path,
        env={"AWS_ENDPOINT_URL": f"http://127.0.0.1:{unused_port}", "AWS_MAX_ATTEMPTS": "1"},
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "AWS Secrets Manager" in done.stderr and "could not read secret" in done.stderr
    assert "Traceback" not in done.stderr
