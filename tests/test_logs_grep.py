"""``runwright logs --grep``: search every run's lines in the audit store, or one run's trace."""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_cli

SEARCHED = """
etl:
  type: Workflow
  params: {table: {type: str, default: orders}}
  jobs:
    load:
      stages:
        - id: read
          bash: 'echo "loading table ${{ params.table }} with $DB_PASSWORD"; echo "connection refused by db-primary" >&2; exit 3'
          env: {DB_PASSWORD: "${APP_DB_PASSWORD}"}
other:
  type: Workflow
  jobs:
    only:
      stages:
        - {id: say, echo: "connection refused elsewhere"}
"""


@pytest.mark.parametrize("store", ["file", "sqlite"])
def test_grep_finds_lines_across_runs_and_workflows(conf, tmp_path, isolated_env, store) -> None:
    folder = conf(SEARCHED)
    url = f"file://{tmp_path / 'audits'}" if store == "file" else f"sqlite:///{tmp_path / 'audit.db'}"
    env = {"RUNWRIGHT_AUDIT_URL": url, "APP_DB_PASSWORD": "hunter2-pw"}
    first = json.loads(run_cli("run", "etl", "--conf", str(folder), "--json", env=env).stdout)
    second = json.loads(
        run_cli("run", "etl", "-p", "table=sales", "--conf", str(folder), "--json", env=env).stdout
    )
    run_cli("run", "other", "--conf", str(folder), "--json", env=env)

    found = run_cli(
        "logs", "--grep", "Connection REFUSED", "--workflow", "etl", "--conf", str(folder), env=env
    )
    assert found.returncode == 0, found.stderr
    lines = found.stdout.splitlines()  # the stderr line, and the errors that quote it
    assert "elsewhere" not in found.stdout
    runs = [line.split()[0] for line in lines]
    assert set(runs) == {first["run_id"], second["run_id"]}
    assert runs.index(second["run_id"]) == 0 and runs[-1] == first["run_id"]  # newest first
    assert sum("load/read stderr: connection refused by db-primary" in line for line in lines) == 2

    table = run_cli("logs", "-g", "loading sales", "--json", "--conf", str(folder), env=env)
    [match] = [json.loads(line) for line in table.stdout.splitlines()]
    assert match["run_id"] == second["run_id"] and match["stage"] == "read"
    assert match["message"] == "loading table sales with ***"  # the secret was masked before it was kept

    everywhere = run_cli("logs", "--grep", "connection refused", "--conf", str(folder), env=env)
    assert len(everywhere.stdout.splitlines()) == len(lines) + 1

    failed = run_cli("logs", "--grep", "BashError exited code 3", "--conf", str(folder), env=env)
    assert failed.returncode == 0 and first["run_id"] in failed.stdout  # a stage's error text is searched

    later = run_cli("logs", "--grep", "refused", "--since", "2999-01-01", "--conf", str(folder), env=env)
    assert later.returncode == 1 and later.stdout == "" and "no lines match" in later.stderr
    bad = run_cli("logs", "--grep", "--", "--conf", str(folder), env=env)
    assert bad.returncode == 2 and "has no words" in bad.stderr
    bad_since = run_cli("logs", "--grep", "x", "--until", "soon", "--conf", str(folder), env=env)
    assert bad_since.returncode == 2 and "--until: expected an ISO datetime" in bad_since.stderr

    one_run = run_cli("logs", first["run_id"], "--grep", "loading orders", env=env)
    assert (
        one_run.returncode == 0
        and one_run.stdout.count("\n") == 1
        and "loading table orders" in one_run.stdout
    )
