"""Shared fixtures: an isolated environment, a fresh runtime, conf files and the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from runwright.config import Settings
from runwright.masking import MASKER
from runwright.plugins import get_plugin_manager
from runwright.runtime import Runtime

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test logs into its own folder and starts with no secrets remembered."""
    logs = tmp_path / "logs"
    monkeypatch.setenv("RUNWRIGHT_LOG_PATH", str(logs))
    monkeypatch.setenv("RUNWRIGHT_AUDIT_URL", f"file://{tmp_path / 'audits'}")
    monkeypatch.delenv("RUNWRIGHT_CONF", raising=False)
    monkeypatch.delenv("RUNWRIGHT_REGISTRY", raising=False)
    monkeypatch.delenv("RUNWRIGHT_TRACE_PLUGINS", raising=False)
    MASKER.clear()
    Runtime.reset_default()
    yield logs
    Runtime.reset_default()


@pytest.fixture
def runtime() -> Runtime:
    """A fresh runtime built from the current environment, as ``Runtime.default()`` builds it
    (built-in stage kinds registered when a template first uses them)."""
    settings = Settings.from_env()
    return Runtime(get_plugin_manager(settings, stage_kinds_on_demand=True), settings)


@pytest.fixture
def conf(tmp_path: Path) -> Callable[..., Path]:
    """Write YAML text into a conf folder; returns the folder."""
    folder = tmp_path / "conf"

    def write(text: str, filename: str = "templates.yml") -> Path:
        path = folder / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return folder

    return write


@pytest.fixture
def workflow_from(conf: Callable[..., Path], runtime: Runtime) -> Callable[..., object]:
    """Load one workflow from YAML text."""
    from runwright import Workflow

    def load(text: str, name: str | None = None) -> Workflow:
        folder = conf(text)
        first = name or textwrap.dedent(text).strip().split(":", 1)[0]
        return Workflow.from_conf(first, folder, runtime=runtime)

    return load


def wait_for_file(path: Path, timeout: float = 60.0) -> bool:
    """Bounded wait for a file a subprocess or a stage creates; True once it exists."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def run_cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run the real ``runwright`` command in a subprocess."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "runwright", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd or REPO,
        timeout=timeout,
    )
