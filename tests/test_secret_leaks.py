"""Secrets do not reach the console by the side doors: numeric secrets, ``repr()``, validation
and param errors, and ``runwright logs`` after its ANSI stripping. Every check runs the real
``runwright`` command and reads what it printed."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from tests.conftest import run_cli


def every_file_text(folder: Path) -> str:
    return "".join(p.read_bytes().decode("utf-8", "replace") for p in folder.rglob("*") if p.is_file())


NUMERIC = """
numbers:
  type: Workflow
  params:
    pin: {type: int, default: "${PIN_SECRET}"}
    rate: {type: float, default: "${RATE_SECRET}"}
  jobs:
    j:
      stages:
        - id: show
          echo: "pin ${{ params.pin }} rate ${{ params.rate }}"
        - id: keep
          run: |
            doubled = ${{ params.pin }} * 1
            rate = ${{ params.rate }}
"""


@pytest.mark.parametrize("store", ["file", "sqlite"])
def test_numeric_params_from_a_secret_are_masked_and_never_stored_in_plain(
    conf, tmp_path: Path, store: str
) -> None:
    pin, rate = "0738291546", "2718.2818459"  # the int is 738291546: its leading zero is gone
    folder = conf(NUMERIC)
    audits = tmp_path / "audits"
    audits.mkdir(exist_ok=True)
    url = f"file://{audits}" if store == "file" else f"sqlite:///{audits / 'runs.db'}"
    env = {"PIN_SECRET": pin, "RATE_SECRET": rate, "RUNWRIGHT_AUDIT_URL": url}
    plain = run_cli("run", "numbers", "--conf", str(folder), env=env)
    as_json = run_cli("run", "numbers", "--conf", str(folder), "--json", env=env)
    assert plain.returncode == 0 and as_json.returncode == 0, plain.stderr + as_json.stderr
    run_id = json.loads(as_json.stdout)["run_id"]
    shown = [
        plain,
        as_json,
        run_cli("logs", run_id, "--conf", str(folder), env=env),
        run_cli("audit", "show", run_id, env=env),
        run_cli("audit", "list", "--json", env=env),
    ]
    stored = every_file_text(audits)
    assert run_id in stored
    text = "".join(r.stdout + r.stderr for r in shown) + stored + every_file_text(tmp_path / "logs")
    for leaked in ("738291546", "2718.2818459"):
        assert leaked not in text
    assert "pin *** rate ***" in shown[2].stdout
    record = json.loads(shown[3].stdout)  # a rerun reads the secrets again from the environment
    assert record["secret_params"] == {"pin": [{"env": "PIN_SECRET"}], "rate": [{"env": "RATE_SECRET"}]}


def test_repr_of_a_secret_holding_quotes_is_masked(conf) -> None:
    tail = uuid.uuid4().hex
    secret = f"it's \"quoted\\ {tail}"
    folder = conf("""
    quoting:
      type: Workflow
      jobs:
        j:
          stages:
            - id: py
              run: |
                import os
                s = os.environ["API_TOKEN"]
                print(repr(s), ascii(s), repr([s]), str({"k": s}))
    """)
    ran = run_cli("run", "quoting", "--conf", str(folder), env={"API_TOKEN": secret})
    assert ran.returncode == 0, ran.stderr
    assert tail not in ran.stdout + ran.stderr
    assert "***" in ran.stdout


def test_validation_errors_never_echo_a_secret(conf) -> None:
    secret = f"hunter2-{uuid.uuid4().hex}"
    folder = conf("""
    broken:
      type: Workflow
      jobs:
        j:
          timeout-minutes: "${DB_PASSWORD}"
          stages:
            - id: s
              echo: hi
    """)
    for args in (("validate", str(folder)), ("run", "broken", "--conf", str(folder))):
        ran = run_cli(*args, env={"DB_PASSWORD": secret})
        assert ran.returncode == 2, ran.stdout + ran.stderr
        assert secret not in ran.stdout + ran.stderr
        assert "timeout-minutes" in ran.stdout + ran.stderr  # the error still says where


def test_param_errors_do_not_echo_the_given_value(conf) -> None:
    folder = conf("""
    typed:
      type: Workflow
      params:
        count: {type: int}
      jobs:
        j:
          stages:
            - id: s
              echo: "${{ params.count }}"
    """)
    given = f"tok-{uuid.uuid4().hex}"
    ran = run_cli("run", "typed", "--conf", str(folder), "-p", f"count={given}")
    assert ran.returncode == 2, ran.stdout + ran.stderr
    assert given not in ran.stdout + ran.stderr
    assert "count" in ran.stderr


def test_a_secret_split_by_an_escape_sequence_is_masked_once_the_codes_are_stripped(conf) -> None:
    secret = f"pw-{uuid.uuid4().hex}"
    half = len(secret) // 2
    folder = conf(
        """
    split:
      type: Workflow
      jobs:
        j:
          stages:
            - id: sh
              bash: printf '%s\\033[0m%s\\n' "${MY_PASSWORD:0:HALF}" "${MY_PASSWORD:HALF}"
    """.replace("HALF", str(half))
    )
    env = {"MY_PASSWORD": secret}
    ran = run_cli("run", "split", "--conf", str(folder), "--json", env=env)
    assert ran.returncode == 0, ran.stderr
    run_id = json.loads(ran.stdout)["run_id"]
    shown = [
        run_cli("logs", run_id, "--conf", str(folder), env=env),
        run_cli("run", "split", "--conf", str(folder), env=env),
    ]
    for result in shown:
        assert result.returncode == 0, result.stderr
        assert secret not in result.stdout + result.stderr
        assert secret[:half] not in result.stdout, "the masked line keeps neither half"
