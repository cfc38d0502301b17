"""The seed's `run-py-local` workflow from conf/, end to end: local API -> S3 (moto on loopback).

Run both ways the seed shows: the Python snippet and the CLI. The API and S3 endpoints come in
through the environment variables the conf example reads.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from runwright import Result, Status, Workflow

from .conftest import AWS_KEY_ID, AWS_SECRET

REPO = Path(__file__).resolve().parents[2]
TOKEN = "seed-refresh-T0ken-19x"


def seed_env(http_server, s3, reply, monkeypatch=None) -> dict[str, str]:
    def api(seen):
        if seen.headers.get("Authorization") != f"Bearer {TOKEN}":
            return reply(status=401, body="bad token")
        wanted = seen.json()
        return reply(
            json=[
                {"pair": wanted["resource"], "asof": wanted["filter"], "rate": {"bid": 35.1, "ask": 35.3}},
                {"pair": wanted["resource"], "asof": wanted["filter"], "rate": {"bid": 35.0, "ask": 35.2}},
            ]
        )

    http_server.route("/open-data/currency-pairs/", api, method="POST")
    env = {
        "API_URL": http_server.url("/open-data/currency-pairs/"),
        "API_ACCESS_REFRESH_TOKEN": TOKEN,
        "LANDING_BUCKET": s3.bucket,
        "AWS_ACCESS_CLIENT_ID": AWS_KEY_ID,
        "AWS_ACCESS_CLIENT_SECRET": AWS_SECRET,
        "AWS_ENDPOINT_URL": s3.endpoint,
        "RUNWRIGHT_CONF": str(REPO / "conf"),
    }
    if monkeypatch is not None:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
    return env


def test_seed_python_snippet_lands_flattened_records(http_server, s3, reply, monkeypatch) -> None:
    seed_env(http_server, s3, reply, monkeypatch)
    workflow: Workflow = Workflow.from_loader("run-py-local")
    result: Result = workflow.execute(
        params={"source-extract": "USD-THB", "run-date": "2024-01-01", "asat-dt": "2024-01-01"}
    )
    assert result.status is Status.SUCCESS, result.errors
    outputs = result.context["jobs"]["getting-api-data"]["stages"]["retrieve-api"]["outputs"]
    assert outputs["records"] == 2
    assert outputs["keys"] == s3.keys("open-data/USD-THB")
    lines = s3.read(outputs["keys"][0]).decode().splitlines()
    assert json.loads(lines[0]) == {"pair": "USD-THB", "asof": "20240101", "rate_bid": 35.1, "rate_ask": 35.3}
    shown = result.to_json()
    assert TOKEN not in shown and AWS_SECRET not in shown


def test_seed_from_the_cli(http_server, s3, reply, tmp_path) -> None:
    audits = tmp_path / "audits"
    env = {
        **os.environ,
        **seed_env(http_server, s3, reply),
        "RUNWRIGHT_LOG_PATH": str(tmp_path / "logs"),
        "RUNWRIGHT_AUDIT_URL": f"file://{audits}",
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "runwright",
            "run",
            "run-py-local",
            "-p",
            "source-extract=EUR-THB",
            "-p",
            "run-date=2024-02-03T10:00:00",
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    keys = document["context"]["jobs"]["getting-api-data"]["stages"]["retrieve-api"]["outputs"]["keys"]
    assert keys and all(k.startswith("open-data/EUR-THB/") for k in keys)
    assert s3.keys("open-data/EUR-THB") == keys
    # the audit record of this manual release shows the keys written
    shown = subprocess.run(
        [sys.executable, "-m", "runwright", "audit", "show", document["run_id"]],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    record = json.loads(shown.stdout)
    assert record["status"] == "SUCCESS" and record["workflow"] == "run-py-local"
    stage = record["context"]["jobs"]["getting-api-data"]["stages"]["retrieve-api"]
    assert stage["outputs"]["keys"] == keys and stage["outputs"]["records"] == 2
    stored = "".join(p.read_text() for p in (tmp_path / "logs").iterdir())
    stored += "".join(p.read_text() for p in audits.rglob("*.json"))
    assert TOKEN not in done.stdout + done.stderr + stored
    assert AWS_SECRET not in done.stdout + done.stderr + stored
