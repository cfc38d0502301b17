"""`uses: tasks/http-request@requests` run by the real `runwright run` command.

The plugin is found through its `runwright` entry point (RUNWRIGHT_REGISTRY unset) and the
stage talks to a real HTTP server on 127.0.0.1; the bearer token comes from the environment
and must not show up in the JSON result or the run's trace log.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

TOKEN = "e2e-Bearer-T0ken-77c"

WORKFLOW = """
fetch-rates:
  type: Workflow
  jobs:
    get:
      stages:
        - id: rates
          name: "Fetch rates"
          uses: tasks/http-request@requests
          with:
            url: {url}
            params: {{pair: USD-THB}}
            auth:
              type: bearer
              keys: ${{RATES_API_TOKEN}}
            retries: 2
            backoff: 0.01
            pagination:
              next-url-path: links.next
              items-path: data
"""


def test_runwright_run_calls_http_request(http_server, reply, tmp_path: Path) -> None:
    def api(seen):
        if seen.headers.get("Authorization") != f"Bearer {TOKEN}":
            return reply(status=401, body="no token")
        if seen.query.get("page") == ["2"]:
            return reply(json={"data": [{"rate": 35.2}], "links": {"next": None}})
        if not hasattr(api, "failed"):
            api.failed = True  # the first attempt fails: the stage's retries handle it
            return reply(status=503, body="warming up")
        return reply(json={"data": [{"rate": 35.1}], "links": {"next": "/rates?page=2"}})

    http_server.route("/rates", api)
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "rates.yml").write_text(
        textwrap.dedent(WORKFLOW.format(url=http_server.url("/rates"))), encoding="utf-8"
    )
    logs = tmp_path / "logs"
    unset = {"RUNWRIGHT_REGISTRY", "RUNWRIGHT_DISABLE_PLUGIN_AUTOLOAD", "RUNWRIGHT_CONF"}
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env.update({"RATES_API_TOKEN": TOKEN, "RUNWRIGHT_LOG_PATH": str(logs)})
    done = subprocess.run(
        [sys.executable, "-m", "runwright", "run", "fetch-rates", "--conf", str(conf), "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "SUCCESS"
    outputs = result["context"]["jobs"]["get"]["stages"]["rates"]["outputs"]
    assert outputs["status_code"] == 200
    assert outputs["body"] == [{"rate": 35.1}, {"rate": 35.2}]
    assert outputs["pages"] == 2 and outputs["has_more"] is False
    assert len(http_server.seen("/rates")) == 3

    written = [done.stdout, done.stderr]
    written += [p.read_text(encoding="utf-8") for p in logs.rglob("*") if p.is_file()]
    assert any("retry 1/2" in text for text in written)  # the plugin's trace reached the log
    assert not any(TOKEN in text for text in written)
