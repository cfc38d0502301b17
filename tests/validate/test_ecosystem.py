"""`validate --format sarif` (SARIF 2.1.0 for code scanning), `validate --conf DIR`, and the
pre-commit hook, run by pre-commit itself on a temporary git repository (offline)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from tests.conftest import REPO, run_cli

BROKEN = """
etl:
  type: Workflow
  params: {name: str}
  on: [{cronjob: "0 25 * * *"}]
  jobs:
    a:
      stages:
        - id: s
          echo: "${{ params.nmae }}"
"""
GOOD = BROKEN.replace("0 25", "0 5").replace("nmae", "name")

# The parts of the SARIF 2.1.0 schema (docs.oasis-open.org/sarif/sarif/v2.1.0) that the output
# uses, with the same required properties, types, enums and bounds; additional properties are
# refused here so nothing is written that was not checked.
SARIF_SUBSET = {
    "type": "object",
    "required": ["version", "runs"],
    "additionalProperties": False,
    "properties": {
        "$schema": {"type": "string", "format": "uri"},
        "version": {"const": "2.1.0"},
        "runs": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["tool"],
                "additionalProperties": False,
                "properties": {
                    "tool": {
                        "type": "object",
                        "required": ["driver"],
                        "additionalProperties": False,
                        "properties": {
                            "driver": {
                                "type": "object",
                                "required": ["name"],
                                "additionalProperties": False,
                                "properties": {
                                    "name": {"type": "string"},
                                    "version": {"type": "string"},
                                    "rules": {
                                        "type": "array",
                                        "uniqueItems": True,
                                        "items": {
                                            "type": "object",
                                            "required": ["id"],
                                            "additionalProperties": False,
                                            "properties": {
                                                "id": {"type": "string"},
                                                "shortDescription": {
                                                    "type": "object",
                                                    "required": ["text"],
                                                    "properties": {"text": {"type": "string"}},
                                                },
                                            },
                                        },
                                    },
                                },
                            }
                        },
                    },
                    "originalUriBaseIds": {
                        "type": "object",
                        "additionalProperties": {
                            "type": "object",
                            "properties": {"uri": {"type": "string", "pattern": "^file:///.*/$"}},
                        },
                    },
                    "results": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["message"],
                            "additionalProperties": False,
                            "properties": {
                                "ruleId": {"type": "string"},
                                "ruleIndex": {"type": "integer", "minimum": -1},
                                "level": {"enum": ["none", "note", "warning", "error"]},
                                "message": {
                                    "type": "object",
                                    "required": ["text"],
                                    "properties": {"text": {"type": "string"}},
                                },
                                "locations": {
                                    "type": "array",
                                    "minItems": 1,
                                    "items": {
                                        "type": "object",
                                        "additionalProperties": False,
                                        "properties": {
                                            "physicalLocation": {
                                                "type": "object",
                                                "required": ["artifactLocation"],
                                                "additionalProperties": False,
                                                "properties": {
                                                    "artifactLocation": {
                                                        "type": "object",
                                                        "required": ["uri"],
                                                        "additionalProperties": False,
                                                        "properties": {
                                                            "uri": {
                                                                "type": "string",
                                                                "format": "uri-reference",
                                                            },
                                                            "uriBaseId": {"type": "string"},
                                                        },
                                                    },
                                                    "region": {
                                                        "type": "object",
                                                        "required": ["startLine"],
                                                        "additionalProperties": False,
                                                        "properties": {
                                                            "startLine": {"type": "integer", "minimum": 1},
                                                            "startColumn": {"type": "integer", "minimum": 1},
                                                        },
                                                    },
                                                },
                                            },
                                            "logicalLocations": {
                                                "type": "array",
                                                "items": {
                                                    "type": "object",
                                                    "properties": {
                                                        "fullyQualifiedName": {"type": "string"},
                                                        "kind": {"type": "string"},
                                                    },
                                                },
                                            },
                                        },
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}


def test_sarif_output_is_sarif_2_1_0_with_every_finding(conf) -> None:
    folder = conf(BROKEN, "etl.yml")
    done = run_cli("validate", "--format", "sarif", "--conf", str(folder), cwd=folder.parent)
    assert done.returncode == 2, done.stderr
    log = json.loads(done.stdout)
    jsonschema.validate(log, SARIF_SUBSET, format_checker=jsonschema.FormatChecker())
    run = log["runs"][0]
    rules = [rule["id"] for rule in run["tool"]["driver"]["rules"]]
    found = []
    for result in run["results"]:
        assert rules[result["ruleIndex"]] == result["ruleId"]  # SARIF: the index names the same rule
        location = result["locations"][0]["physicalLocation"]
        assert location["artifactLocation"] == {"uri": "conf/etl.yml", "uriBaseId": "%SRCROOT%"}
        region = location["region"]
        found.append((result["ruleId"], result["level"], region["startLine"], region["startColumn"]))
    assert found == [("cron", "error", 5, 18), ("unknown-param", "error", 10, 18)]
    assert "did you mean 'name'?" in run["results"][1]["message"]["text"]
    base = run["originalUriBaseIds"]["%SRCROOT%"]["uri"]
    assert base == folder.parent.resolve().as_uri() + "/"


def test_validate_takes_conf_like_every_command(conf) -> None:
    folder = conf(GOOD, "etl.yml")
    done = run_cli("validate", "--conf", str(folder))
    assert done.returncode == 0 and done.stdout.startswith("ok: 1 template(s)"), done.stdout + done.stderr
    other = conf(BROKEN, "other/etl.yml")
    clash = run_cli("validate", str(folder), "--conf", str(other / "other"))
    assert clash.returncode == 2 and "differ" in clash.stderr


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, timeout=60)


@pytest.mark.skipif(shutil.which("git") is None, reason="git is needed for pre-commit")
def test_the_pre_commit_hook_runs_validate_in_pre_commit(tmp_path: Path) -> None:
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    hook = next(h for h in hooks if h["id"] == "runwright-validate")
    # offline: the hook as published, but run with the runwright installed here (language:
    # system) instead of pre-commit building a virtualenv from the repository
    local = {**hook, "language": "system", "args": ["--conf", "flows"]}
    repo = tmp_path / "repo"
    (repo / "flows").mkdir(parents=True)
    (repo / "flows" / "etl.yml").write_text(BROKEN.lstrip())
    (repo / ".pre-commit-config.yaml").write_text(
        yaml.safe_dump({"repos": [{"repo": "local", "hooks": [local]}]}, sort_keys=False)
    )
    git(repo, "init", "-q")
    git(repo, "add", ".")
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "PRE_COMMIT_HOME": str(tmp_path / "cache"),
        "HOME": str(tmp_path),
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    command = [sys.executable, "-m", "pre_commit", "run", "--all-files", "--color", "never"]
    failed = subprocess.run(command, cwd=repo, env=env, capture_output=True, text=True, timeout=120)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "runwright validate" in failed.stdout and "Failed" in failed.stdout
    assert "flows/etl.yml:4:18: error:" in failed.stdout, failed.stdout
    assert "did you mean 'name'?" in failed.stdout
    (repo / "flows" / "etl.yml").write_text(GOOD.lstrip())
    git(repo, "add", ".")
    passed = subprocess.run(command, cwd=repo, env=env, capture_output=True, text=True, timeout=120)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "Passed" in passed.stdout
