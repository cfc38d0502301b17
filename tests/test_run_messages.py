"""What a failed run says: which strategy an error line is about, where in the file a run-time
expression error is (with the matrix and item values), and `runwright logs` shows each error."""

from __future__ import annotations

import json

from tests.conftest import run_cli

MATRIX = """
extract:
  type: Workflow
  params:
    limits: {type: map, default: {eu: 1}}
  jobs:
    extract:
      strategy:
        matrix: {region: [eu, us]}
      stages:
        - id: check
          run: |
            rows = 42
            if rows < 100:
                raise ValueError(f"only {rows} rows")
    loop:
      stages:
        - id: each
          foreach: [{name: a}, {nm: b}]
          stages:
            - id: show
              echo: "${{ item.name }}"
"""


def test_error_lines_name_the_strategy_and_the_place_and_logs_show_them(conf, isolated_env) -> None:
    folder = conf(MATRIX)
    env = {"RUNWRIGHT_LOG_PATH": str(isolated_env)}
    done = run_cli("run", "extract", "--conf", str(folder), env=env)
    assert done.returncode != 0
    errors = [line.strip() for line in done.stderr.splitlines() if line.strip().startswith("error ")]
    assert "error extract[eu]/check: ValueError: only 42 rows" in errors, done.stderr
    assert "error extract[us]/check: ValueError: only 42 rows" in errors, done.stderr
    item_error = next(line for line in errors if line.startswith("error loop/each"))
    assert "templates.yml:22:22" in item_error, item_error  # file:line:col of ${{ item.name }}
    assert "item: {'nm': 'b'}" in item_error, item_error
    run_id = json.loads(run_cli("run", "extract", "--conf", str(folder), "--json", env=env).stdout)["run_id"]
    shown = run_cli("logs", run_id, env=env).stdout
    assert "extract/eu/check stage-end: FAILED: ValueError: only 42 rows" in shown, shown
    assert "extract/us/check stage-end: FAILED: ValueError: only 42 rows" in shown, shown
