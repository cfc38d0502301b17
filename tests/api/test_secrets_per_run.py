"""A server keeps a run's secrets only while the run lives: a new token per run must not
pile up in the process-wide masker, and while a run lives its secret is masked everywhere
(its log lines, on the other job's thread, and its audit record)."""

from __future__ import annotations

import gc
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from runwright.audit import make_audit_backend
from runwright.masking import MASK, MASKER, Masker, RunSecrets
from runwright_api.service import RunService

from tests.api.test_memory_per_run import wait_until_idle

CONF = """
sign-in:
  type: Workflow
  params: {token: {type: str}}
  jobs:
    login:
      stages:
        - {id: call, uses: auth/sign-in@v1, with: {token: "${{ params.token }}"}}
    report:
      needs: [login]
      stages:
        - {id: show, echo: "token is ${{ params.token }}"}
"""


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """``auth/sign-in@v1``: takes the token as a ``SecretStr`` (which registers it as secret)."""
    package = tmp_path / "pkgs" / "per_run_secrets_registry"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "auth.py").write_text(
        textwrap.dedent("""
        from pydantic import SecretStr
        from runwright import tag

        @tag("v1")
        def sign_in(token: SecretStr) -> dict:
            return {"echoed": token.get_secret_value()}
        """)
    )
    monkeypatch.syspath_prepend(str(package.parent))
    monkeypatch.setenv("RUNWRIGHT_REGISTRY", "per_run_secrets_registry")
    monkeypatch.setenv("RUNWRIGHT_LOG_PATH", str(tmp_path / "logs"))
    yield
    for name in [m for m in sys.modules if m.startswith("per_run_secrets_registry")]:
        del sys.modules[name]


def service_for(tmp_path: Path) -> RunService:
    folder = tmp_path / "conf"
    folder.mkdir()
    (folder / "flows.yml").write_text(CONF, encoding="utf-8")
    return RunService(folder, audit=make_audit_backend(f"sqlite:///{tmp_path / 'audit.db'}"))


def secrets_held() -> int:
    gc.collect()
    return len(MASKER.values())


def test_each_runs_new_token_is_masked_while_it_runs_and_not_kept_after(registry, tmp_path: Path) -> None:
    service = service_for(tmp_path)
    tokens = [f"tok-{n}-{uuid.uuid4().hex}" for n in range(12)]
    held, records = {}, []
    try:
        for n, token in enumerate(tokens, start=1):
            record = service.trigger("sign-in", {"token": token})
            wait_until_idle(service)
            stored = service.audit.get(record.run_id)
            assert stored is not None and stored.status == "SUCCESS", stored
            records.append(stored.model_dump_json())
            if n in (1, 2, 12):
                held[n] = secrets_held()
    finally:
        service.shutdown(1)
    assert held[12] == held[2] == held[1]  # on main: one more secret kept for every run
    # while each run lived, its token was masked once the call had registered it: in the
    # report job's echo (another thread than the call's) and in the run's record (its params,
    # the call's outputs), written when the run ended
    shown = [
        line
        for path in (tmp_path / "logs").rglob("*")
        if path.is_file()
        for line in path.read_text(encoding="utf-8").splitlines()
        if "token is" in line
    ]
    assert len(shown) >= len(tokens) and all(f"token is {MASK}" in line for line in shown)
    for token, record in zip(tokens, records, strict=True):
        assert all(token not in line for line in shown)
        assert token not in record and MASK in record


def test_a_secret_two_runs_hold_stays_masked_until_both_end() -> None:
    masker = Masker()
    first, second = RunSecrets(masker), RunSecrets(masker)
    shared, own = "shared-token-123", "first-only-456"
    first.add(shared)
    first.add(own)
    second.add(shared)
    assert masker.mask(f"{shared} {own}") == f"{MASK} {MASK}"
    first.close()
    assert masker.mask(f"{shared} {own}") == f"{MASK} {own}"
    second.close()
    assert masker.mask(shared) == shared
    assert masker.values() == ()


def test_a_secret_of_the_process_outlives_the_runs_that_used_it() -> None:
    """Secrets from the environment are bounded by it and stay; a run using one releases only
    its own hold."""
    masker = Masker()
    masker.add("env-password-789")
    run = RunSecrets(masker)
    run.add("env-password-789")
    run.add("run-token-000")
    del run
    gc.collect()
    assert masker.values() == ("env-password-789",)
    assert masker.mask("env-password-789") == MASK


def test_a_kept_result_stays_masked_and_its_secret_goes_with_it(registry, workflow_from) -> None:
    """Through the Python API: the Result holds the token in clear (a later stage may need it),
    so the token stays masked while the Result is kept, and is released once it is dropped."""
    token = f"tok-api-{uuid.uuid4().hex}"
    held_before = secrets_held()
    result = workflow_from(CONF).execute({"token": token})
    assert result.status.value == "SUCCESS", result.errors
    assert secrets_held() == held_before + 1
    shown = result.to_json()
    assert token not in shown and MASK in shown  # shown after the run ended: still masked
    del result
    assert secrets_held() == held_before  # on main: the token stayed for good
    assert MASKER.mask(token) == token


CANCELLED = """
sign-in-then-wait:
  type: Workflow
  params: {token: {type: str}}
  jobs:
    login:
      stages:
        - {id: call, uses: auth/sign-in@v1, with: {token: "${{ params.token }}"}}
    wait:
      needs: [login]
      stages:
        - {id: show, echo: "waiting with ${{ params.token }}"}
        - {id: long, bash: "sleep 60"}
"""


def test_a_cancelled_runs_secret_is_masked_while_it_runs_and_released_after(registry, workflow_from) -> None:
    token = f"tok-cancel-{uuid.uuid4().hex}"
    held_before = secrets_held()
    handle = workflow_from(CANCELLED).start({"token": token})
    deadline = time.monotonic() + 60
    while MASKER.mask(token) == token and time.monotonic() < deadline:  # the call registered it
        time.sleep(0.01)
    assert MASKER.mask(token) == MASK  # live: masked
    handle.cancel("stop")
    result = handle.result(timeout=60)
    assert result.status.value == "CANCEL", result.errors
    assert token not in result.to_json()
    del handle, result
    assert secrets_held() == held_before
