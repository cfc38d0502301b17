"""Secrets from the environment never leak, in any encoding a script commonly prints them in."""

from __future__ import annotations

import base64
import json
import urllib.parse
import uuid
from pathlib import Path

import pytest
from runwright.masking import MASK, Masker, register_environment_secrets

from tests.conftest import run_cli

LEAKY = """
leaky:
  type: Workflow
  jobs:
    j:
      stages:
        - id: show
          bash: |
            echo "password is $MY_PASSWORD and listed is $PLAIN_LOOKING"
            echo "greeting=$MY_PASSWORD" >> "$RUNWRIGHT_OUTPUT"
        - id: py
          run: |
            import os
            seen = os.environ["MY_PASSWORD"]
            print("py saw", seen)
"""


def every_file_text(folder: Path) -> str:
    return "".join(p.read_bytes().decode("utf-8", "replace") for p in folder.rglob("*") if p.is_file())


@pytest.mark.parametrize("store", ["file", "sqlite"])
def test_a_secret_never_named_in_the_template_leaks_nowhere(conf, tmp_path: Path, store: str) -> None:
    folder = conf(LEAKY)
    secret = f"pw-{uuid.uuid4().hex}"
    listed = f"plain-{uuid.uuid4().hex}"
    audits = tmp_path / "audits"
    url = f"file://{audits}" if store == "file" else f"sqlite:///{audits / 'runs.db'}"
    audits.mkdir(exist_ok=True)
    env = {
        "MY_PASSWORD": secret,
        "PLAIN_LOOKING": listed,
        "RUNWRIGHT_SECRETS": "PLAIN_LOOKING",
        "RUNWRIGHT_AUDIT_URL": url,
    }
    plain = run_cli("run", "leaky", "--conf", str(folder), env=env)
    as_json = run_cli("run", "leaky", "--conf", str(folder), "--json", env=env)
    assert plain.returncode == 0, plain.stderr
    assert as_json.returncode == 0, as_json.stderr
    run_id = json.loads(as_json.stdout)["run_id"]
    outputs = json.loads(as_json.stdout)["context"]["jobs"]["j"]["stages"]["show"]["outputs"]
    assert outputs["greeting"] == MASK
    shown = [
        plain,
        as_json,
        run_cli("logs", run_id, env=env),
        run_cli("audit", "show", run_id, env=env),
        run_cli("audit", "list", env=env),
        run_cli("audit", "list", "--json", env=env),
    ]
    logs = every_file_text(tmp_path / "logs")
    assert "password is" in logs and "py saw" in logs
    stored = every_file_text(audits)
    assert run_id in stored
    for text in [*(r.stdout + r.stderr for r in shown), logs, stored]:
        assert secret not in text
        assert listed not in text
    assert "password is *** and listed is ***" in run_cli("logs", run_id, env=env).stdout


def test_common_encodings_are_masked_even_inside_longer_text() -> None:
    masker = Masker()
    secret = "s3cr3t-Value/with+chars"
    masker.add(secret)
    raw = secret.encode()
    printed = {
        "base64": base64.b64encode(raw).decode(),
        "urlsafe base64": base64.urlsafe_b64encode(raw).decode(),
        "url": urllib.parse.quote(secret, safe=""),
        "url form": urllib.parse.quote_plus(secret),
        "json": json.dumps({"a": secret + '"\n'}),
        "hex": raw.hex(),
    }
    for prefix in (b"", b"u", b"us", b"use"):  # every alignment inside a longer base64 text
        printed[f"base64 after {prefix!r}"] = base64.b64encode(prefix + b"user:" + raw + b"@host").decode()
    for form, text in printed.items():
        masked = masker.mask(f"Authorization: Basic {text}")
        assert MASK in masked, form
        decoded_parts = masked.split(MASK)
        assert all(len(part) < len(text) for part in decoded_parts), form


def test_a_json_escaped_secret_is_masked() -> None:
    masker = Masker()
    secret = 'quote"and\\slash'
    masker.add(secret)
    assert secret not in masker.mask(json.dumps(secret))
    assert masker.mask(json.dumps(secret)) == f'"{MASK}"'


def test_short_values_are_not_masked_and_a_warning_names_the_variable(conf, tmp_path: Path) -> None:
    folder = conf("""
    short:
      type: Workflow
      jobs:
        j:
          stages:
            - id: s
              bash: echo "key=$SHORT_KEY"
    """)
    result = run_cli("run", "short", "--conf", str(folder), "--json", env={"SHORT_KEY": "2"})
    assert result.returncode == 0, result.stderr
    run_id = json.loads(result.stdout)["run_id"]
    assert "***" not in run_id and run_id in result.stdout
    assert "SHORT_KEY" in result.stderr and "not masked" in result.stderr
    masker = Masker()
    assert register_environment_secrets({"SHORT_KEY": "abc", "LONG_TOKEN": "abcd", "HOME": "/root"}, masker) == [
        "LONG_TOKEN"
    ]
    assert masker.mask("abc abcd /root") == "abc *** /root"
