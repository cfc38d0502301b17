"""A rerun (or crash re-release) reads secret params again from the environment.

The record stores params masked (``***``); replaying that text would run the workflow with a
literal ``***``. The record also says where each secret came from, so the value is read again.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from runwright.audit import ReleaseRecord, ReleaseStatus, make_audit_backend
from runwright.schedule.clock import SimulatedClock
from runwright.schedule.scheduler import Scheduler

from tests.conftest import run_cli

TOKEN_WF = """
uses-token:
  type: Workflow
  params:
    token: {{type: str, default: "${{API_TOKEN}}"}}
  jobs:
    j:
      stages:
        - id: use
          bash: 'printf %s "$T" > {seen}; test -e {gate}'
          env: {{T: "${{{{ params.token }}}}"}}
"""

DSN_WF = """
uses-dsn:
  type: Workflow
  params: {{dsn: str}}
  jobs:
    j:
      stages:
        - id: login
          bash: 'printf %s "$DSN" > {seen}; test -e {gate}'
          env: {{DSN: "${{{{ params.dsn }}}}", PW: "${{DB_PASSWORD:-}}"}}
"""


def run_json(*args: str) -> tuple[int, dict, str]:
    result = run_cli(*args, "--json")
    return result.returncode, json.loads(result.stdout) if result.stdout.strip() else {}, result.stderr


def test_rerun_reads_a_secret_default_again_instead_of_replaying_the_mask(
    conf, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen, gate = tmp_path / "seen", tmp_path / "gate"
    folder = conf(TOKEN_WF.format(seen=seen, gate=gate))
    monkeypatch.setenv("API_TOKEN", "tok-Secret-4242")
    code, first, _ = run_json("run", "uses-token", "--conf", str(folder))
    assert code == 1 and first["status"] == "FAILED"
    assert seen.read_text() == "tok-Secret-4242"
    record = make_audit_backend().get(first["run_id"])
    assert record is not None and record.params == {"token": "***"}
    assert "tok-Secret-4242" not in record.model_dump_json()

    gate.touch()
    monkeypatch.setenv("API_TOKEN", "tok-Rotated-5151")  # read again: the value of now
    code, second, stderr = run_json("rerun", first["run_id"], "--conf", str(folder))
    assert code == 0, stderr
    assert second["status"] == "SUCCESS"
    assert seen.read_text() == "tok-Rotated-5151"
    assert second["context"]["params"] == {"token": "***"}


def test_rerun_of_a_partly_secret_param_needs_the_secret_or_a_new_value(
    conf, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen, gate = tmp_path / "seen", tmp_path / "gate"
    folder = conf(DSN_WF.format(seen=seen, gate=gate))
    monkeypatch.setenv("DB_PASSWORD", "pw-Hidden-77")
    code, first, _ = run_json(
        "run", "uses-dsn", "-p", "dsn=db://ada:pw-Hidden-77@host", "--conf", str(folder)
    )
    assert code == 1
    assert make_audit_backend().get(first["run_id"]).params == {"dsn": "db://ada:***@host"}  # type: ignore[union-attr]
    gate.touch()
    seen.unlink()

    monkeypatch.delenv("DB_PASSWORD")
    missing = run_cli("rerun", first["run_id"], "--conf", str(folder))
    assert missing.returncode == 2
    assert "param 'dsn'" in missing.stderr and "DB_PASSWORD" in missing.stderr
    assert "not set" in missing.stderr and "Traceback" not in missing.stderr
    assert not seen.exists()  # nothing ran with '***'

    given = run_cli("rerun", first["run_id"], "-p", "dsn=db://ada:typed-again@host", "--conf", str(folder))
    assert given.returncode == 0, given.stderr
    assert seen.read_text() == "db://ada:typed-again@host"

    monkeypatch.setenv("DB_PASSWORD", "pw-Hidden-77")
    records = make_audit_backend().list(workflow="uses-dsn")
    assert {r.status for r in records} == {ReleaseStatus.FAILED, ReleaseStatus.SUCCESS}
    seen.unlink()
    code, again, stderr = run_json("rerun", first["run_id"], "--conf", str(folder))
    assert code == 2 and "already released" in stderr  # the release has its SUCCESS


def test_a_secret_left_in_a_params_literal_text_is_never_stored_in_secret_params(
    conf, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The env secret is found once as itself, but its URL-encoded form stays in the literal text:
    the parts must not be kept (they would store the secret unmasked)."""
    seen, gate = tmp_path / "seen", tmp_path / "gate"
    folder = conf(DSN_WF.format(seen=seen, gate=gate))
    monkeypatch.setenv("DB_PASSWORD", "pw Hidden-77")
    dsn = "db://ada:pw Hidden-77@host?again=pw%20Hidden-77"
    code, first, _ = run_json("run", "uses-dsn", "-p", f"dsn={dsn}", "--conf", str(folder))
    assert code == 1
    assert seen.read_text() == dsn  # the stage saw the real value
    record = make_audit_backend().get(first["run_id"])
    assert record is not None
    assert record.params == {"dsn": "db://ada:***@host?again=***"}
    assert record.secret_params == {"dsn": None}
    assert "Hidden-77" not in record.model_dump_json()
    gate.touch()
    again = run_cli("rerun", first["run_id"], "--conf", str(folder))
    assert again.returncode == 2
    assert "param 'dsn'" in again.stderr and "cannot be read again" in again.stderr


SCHEDULED_TOKEN_WF = """
scheduled-token:
  type: Workflow
  on: [{cronjob: "* * * * *", retry-crashed: true}]
  params: {token: str}
  jobs:
    j: {stages: [{id: s, echo: "${{ params.token }}"}]}
"""
T0 = datetime(2024, 1, 1, tzinfo=UTC)
DEAD_PID = 2**22 + 4321


def dead_record(run_id: str, release: datetime, **fields) -> ReleaseRecord:
    return ReleaseRecord(
        workflow="scheduled-token", release=release, run_id=run_id, pid=DEAD_PID, type="scheduled", **fields
    )


def test_crash_re_release_reads_secrets_again_and_never_runs_with_the_mask(
    conf, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    folder = conf(SCHEDULED_TOKEN_WF)
    monkeypatch.setenv("SERVICE_TOKEN", "svc-Secret-9090")
    audit = make_audit_backend()
    audit.claim(
        dead_record(
            "dead-with-source",
            T0,
            params={"token": "***"},
            secret_params={"token": [{"env": "SERVICE_TOKEN"}]},
        )
    )
    audit.claim(dead_record("dead-before-sources", T0 - timedelta(minutes=1), params={"token": "***"}))

    with caplog.at_level(logging.ERROR, logger="runwright.scheduler"):
        scheduler = Scheduler(folder, clock=SimulatedClock(T0 + timedelta(seconds=30)))
        outcomes = scheduler.run(until=T0 + timedelta(seconds=40))

    [retried] = [o for o in outcomes if o.ran]
    assert retried.result is not None and retried.status == "SUCCESS"
    assert retried.result.context["params"]["token"] == "svc-Secret-9090"
    assert audit.get(retried.run_id).parent_run_id == "dead-with-source"  # type: ignore[union-attr]
    assert "param 'token' of run dead-before-sources is stored masked" in caplog.text
    assert [r.status for r in audit.attempts("scheduled-token", T0 - timedelta(minutes=1))] == [
        ReleaseStatus.CRASHED
    ]
