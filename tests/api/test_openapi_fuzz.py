"""Property-based requests from the OpenAPI spec (schemathesis): no 500, every answer fits the spec."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.api.conftest import start_server, stop_server

# echo stages only: generated params never reach a shell
SAFE_CONF = """
greet:
  type: Workflow
  desc: Echoes typed params.
  params:
    name: {type: str, default: world}
    times: {type: int, default: 1}
    day: {type: date, default: "2024-01-02"}
    colour: {type: choice, options: [red, green], default: red}
  on:
    - cronjob: "0 3 * * *"
  jobs:
    first:
      stages:
        - {id: say, echo: "hello ${{ params.name }} ${{ params.times }} ${{ params.day }}"}
    second:
      needs: [first]
      stages:
        - {id: bye, echo: "bye ${{ params.colour }}"}
"""


def test_schemathesis_finds_no_server_error_and_no_schema_violation(tmp_path: Path) -> None:
    server = start_server(tmp_path, token="fuzz-token-" + "y" * 16, conf_text=SAFE_CONF)
    try:
        cli = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or "schemathesis"
        result = subprocess.run(
            [
                cli,
                "run",
                f"{server.url}/openapi.json",
                "--checks",
                "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance",
                "--max-examples",
                "8",
                "--seed",
                "20240101",
                "--workers",
                "1",
                "--request-timeout",
                "20",
                "-H",
                f"Authorization: Bearer {server.token}",
            ],
            capture_output=True,
            text=True,
            timeout=170,
            cwd=tmp_path,
        )
    finally:
        stop_server(server)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "13 selected" in result.stdout or "Selected: 13" in result.stdout  # 11 + pause, unpause
