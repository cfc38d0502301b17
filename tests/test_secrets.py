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


SECRET_WITH_SPACE = 's3cr3t Välue/with+chars"q'
"""A space (``+`` in a form body), a non-ASCII letter (``\\u00e4`` in ASCII JSON), ``/``, ``+``, ``"``."""


@pytest.mark.parametrize(
    ("form", "printed"),
    [
        ("plain", SECRET_WITH_SPACE),
        ("url", urllib.parse.quote(SECRET_WITH_SPACE, safe="")),
        ("url form", urllib.parse.quote_plus(SECRET_WITH_SPACE)),
        ("hex", SECRET_WITH_SPACE.encode().hex()),
        ("uppercase hex", SECRET_WITH_SPACE.encode().hex().upper()),
        ("base64", base64.b64encode(SECRET_WITH_SPACE.encode()).decode()),
        ("urlsafe base64", base64.urlsafe_b64encode(SECRET_WITH_SPACE.encode()).decode()),
        ("json ascii", json.dumps(SECRET_WITH_SPACE)[1:-1]),
        ("json non-ascii", json.dumps(SECRET_WITH_SPACE, ensure_ascii=False)[1:-1]),
    ],
)
def test_each_common_encoding_is_masked_whole(form: str, printed: str) -> None:
    masker = Masker()
    masker.add(SECRET_WITH_SPACE)
    assert printed != SECRET_WITH_SPACE or form == "plain"  # each case is a form of its own
    if form == "url form":
        assert "+" in printed and " " not in printed and "%20" not in printed
    assert masker.mask(f"Authorization: Basic {printed}!") == f"Authorization: Basic {MASK}!", form


@pytest.mark.parametrize("ensure_ascii", [True, False])
def test_a_secret_in_a_json_document_is_masked_whole(ensure_ascii: bool) -> None:
    masker = Masker()
    masker.add(SECRET_WITH_SPACE)
    document = json.dumps(
        {"a": SECRET_WITH_SPACE, "b": [SECRET_WITH_SPACE + "\n"]}, ensure_ascii=ensure_ascii
    )
    assert ("\\u00e4" in document) is ensure_ascii
    assert masker.mask(document) == json.dumps({"a": MASK, "b": [MASK + "\n"]})


@pytest.mark.parametrize("prefix", [b"", b"u", b"us", b"use"])
def test_base64_of_a_secret_inside_longer_base64_is_masked_at_every_alignment(prefix: bytes) -> None:
    """Only the characters that mix the secret's bits with its neighbours' may stay."""
    masker = Masker()
    masker.add(SECRET_WITH_SPACE)
    raw = SECRET_WITH_SPACE.encode()
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        text = encode(prefix + b"user:" + raw + b"@host").decode()
        masked = masker.mask(text)
        assert masked.count(MASK) == 1, (prefix, masked)
        before, after = masked.split(MASK)
        assert text.startswith(before) and text.endswith(after), (prefix, masked)
        hidden = len(text) - len(before) - len(after)
        assert hidden >= 8 * len(raw) // 6 - 1, (prefix, masked)  # every whole character of the secret


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
