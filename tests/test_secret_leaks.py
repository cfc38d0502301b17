"""Secrets do not reach the console by the side doors: what a Python stage writes below
``print`` (logging, ``sys.stderr``, file descriptors 1 and 2, ``os.system``), multi-line and
numeric secrets, ``repr()``, validation and param errors, and ``runwright logs`` after its ANSI
stripping. Every check runs the real ``runwright`` command and reads what it printed."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from tests.conftest import run_cli

NOISY_STAGE = """
noisy:
  type: Workflow
  jobs:
    j:
      stages:
        - id: loud
          isolation: {isolation}
          run: |
            import logging, os, subprocess, sys, threading
            s = os.environ["MY_PASSWORD"]
            logging.getLogger("stage").warning("logging %s", s)
            sys.stderr.write("stderr " + s + "\\n")
            sys.stdout.write("stdout " + s + "\\n")
            sys.stdout.flush()
            os.write(1, ("fd1 " + s + "\\n").encode())
            os.write(2, ("fd2 " + s + "\\n").encode())
            os.system("echo system-out $MY_PASSWORD; echo system-err $MY_PASSWORD >&2")
            subprocess.run(["echo", "child " + s])
            _helper = threading.Thread(target=lambda: sys.stdout.write("thread " + s + "\\n"))
            _helper.start()
            _helper.join()
            print("print " + s)
            done = True
"""
PREFIXES = (
    "logging",
    "stderr",
    "stdout",
    "fd1",
    "fd2",
    "system-out",
    "system-err",
    "child",
    "thread",
    "print",
)


def every_file_text(folder: Path) -> str:
    return "".join(p.read_bytes().decode("utf-8", "replace") for p in folder.rglob("*") if p.is_file())


@pytest.mark.parametrize("isolation", ["thread", "process"])
def test_everything_a_python_stage_writes_is_masked_and_json_stays_one_document(
    conf, tmp_path: Path, isolation: str
) -> None:
    folder = conf(NOISY_STAGE.format(isolation=isolation))
    secret = f"pw-{uuid.uuid4().hex}"
    env = {"MY_PASSWORD": secret}
    plain = run_cli("run", "noisy", "--conf", str(folder), env=env)
    as_json = run_cli("run", "noisy", "--conf", str(folder), "--json", env=env)
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert as_json.returncode == 0, as_json.stdout + as_json.stderr
    document = json.loads(as_json.stdout)  # nothing the stage wrote is mixed into it
    assert document["status"] == "SUCCESS"
    for shown in (plain, as_json):
        assert secret not in shown.stdout + shown.stderr
    logs = run_cli("logs", document["run_id"], "--conf", str(folder), env=env)
    assert secret not in logs.stdout + logs.stderr + every_file_text(tmp_path / "logs")
    for prefix in PREFIXES:  # nothing is lost: every line is in the trace, masked
        assert f"{prefix} ***" in logs.stdout, prefix
        assert f"{prefix} ***" in plain.stdout + plain.stderr, prefix


PEM_STAGE = """
pem:
  type: Workflow
  jobs:
    j:
      stages:
        - id: sh
          bash: echo "$SIGNING_KEY"
        - id: py
          run: |
            import os, sys
            print(os.environ["SIGNING_KEY"])
            sys.stderr.write(os.environ["SIGNING_KEY"] + "\\n")
"""


def test_every_line_of_a_multi_line_secret_is_masked(conf, tmp_path: Path) -> None:
    body = [uuid.uuid4().hex + uuid.uuid4().hex for _ in range(4)]
    key = "\n".join(["-----BEGIN PRIVATE KEY-----", *body, "-----END PRIVATE KEY-----"])
    folder = conf(PEM_STAGE)
    env = {"SIGNING_KEY": key}
    plain = run_cli("run", "pem", "--conf", str(folder), env=env)
    as_json = run_cli("run", "pem", "--conf", str(folder), "--json", env=env)
    assert plain.returncode == 0 and as_json.returncode == 0, plain.stderr + as_json.stderr
    logs = run_cli("logs", json.loads(as_json.stdout)["run_id"], "--conf", str(folder), env=env)
    shown = [plain.stdout, plain.stderr, as_json.stdout, as_json.stderr, logs.stdout]
    text = "".join(shown) + every_file_text(tmp_path / "logs")
    for line in body:
        assert line not in text
    assert "sh | ***" in plain.stdout


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


BROKEN_FIELD = """
broken:
  type: Workflow
  jobs:
    j:
      timeout-minutes: "${DB_PASSWORD}"
      stages:
        - id: s
          echo: hi
"""
BROKEN_NEEDS = """
broken:
  type: Workflow
  jobs:
    j:
      needs: ["${DB_PASSWORD}"]
      stages:
        - id: s
          echo: hi
"""


@pytest.mark.parametrize(("template", "where"), [(BROKEN_FIELD, "timeout-minutes"), (BROKEN_NEEDS, "needs")])
def test_validation_errors_never_echo_a_secret(conf, template: str, where: str) -> None:
    secret = f"hunter2-{uuid.uuid4().hex}"
    folder = conf(template)
    for args in (("validate", str(folder)), ("run", "broken", "--conf", str(folder))):
        ran = run_cli(*args, env={"DB_PASSWORD": secret})
        assert ran.returncode == 2, ran.stdout + ran.stderr
        assert secret not in ran.stdout + ran.stderr
        assert where in ran.stdout + ran.stderr  # the error still says where
        assert "***" in ran.stdout + ran.stderr


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
    without_key = run_cli("run", "typed", "--conf", str(folder), "-p", "count=1", "-p", given)
    assert without_key.returncode == 2, without_key.stdout + without_key.stderr
    assert given not in without_key.stdout + without_key.stderr
    assert "-p number 2" in without_key.stderr


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


def test_logs_masks_a_trace_written_before_the_secret_was_known(tmp_path: Path) -> None:
    secret = f"pw-{uuid.uuid4().hex}"
    logs = tmp_path / "logs"
    logs.mkdir(exist_ok=True)
    run_id = "20260101T000000-0123456789"
    split = f"{secret[:10]}\x1b[0m{secret[10:]}"
    records = [
        {"time": 1.0, "run_id": run_id, "workflow": "w", "event": "stdout", "job": "j", "message": split},
        {"time": 2.0, "run_id": run_id, "workflow": "w", "event": "stdout", "job": "j", "message": secret},
    ]
    (logs / f"{run_id}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    env = {"MY_PASSWORD": secret}
    for args in (("logs", run_id), ("logs", run_id, "--json")):
        shown = run_cli(*args, env=env)
        assert shown.returncode == 0, shown.stderr
        assert secret not in shown.stdout and secret[10:] not in shown.stdout
        assert shown.stdout.count("***") == 2


HOURLY_NOISY = """
hourly:
  type: Workflow
  on: [{cronjob: "0 * * * *"}]
  jobs:
    j:
      stages:
        - id: loud
          run: |
            import logging, os, sys, time
            s = os.environ["MY_PASSWORD"]
            for _ in range(3):
                os.write(2, ("fd2 " + s + "\\n").encode())
                logging.getLogger("stage").warning("logging %s", s)
                time.sleep(0.05)
"""


def test_backfill_running_noisy_ticks_at_once_leaks_nothing_and_loses_no_line(conf, tmp_path: Path) -> None:
    """Several stages write to descriptor 2 at once: every line lands in some trace, masked."""
    folder = conf(HOURLY_NOISY)
    secret = f"pw-{uuid.uuid4().hex}"
    window = ["--start", "2024-01-01T00:00:00+00:00", "--end", "2024-01-01T02:00:00+00:00"]
    ran = run_cli(
        "backfill", "hourly", *window, "--max-active", "3", "--conf", str(folder), env={"MY_PASSWORD": secret}
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert secret not in ran.stdout + ran.stderr
    traces = every_file_text(tmp_path / "logs")
    assert secret not in traces
    assert traces.count('"fd2 ***"') == 9  # three ticks, three lines each
    assert traces.count('"logging ***"') == 9
