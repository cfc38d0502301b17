"""Install as users do: wheels of every distribution, plain pip, a fresh venv, no uv, no workspace."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

ECHO_ONLY = """
plain:
  type: Workflow
  jobs:
    j:
      stages:
        - name: say
          echo: "core alone runs this"
"""


def uv_command() -> list[str]:
    """The uv that runs this test (``uv run`` sets ``UV``), else uv on PATH, else ``python -m uv``."""
    found = os.environ.get("UV") or shutil.which("uv")
    return [found] if found else [sys.executable, "-m", "uv"]


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [*uv_command(), "build", "--all-packages", "--wheel", "-o", str(dist)],
        cwd=REPO,
        check=True,
        capture_output=True,
        timeout=300,
    )
    built = {p.name.split("-")[0] for p in dist.glob("*.whl")}
    members = {"runwright_contrib"} | {
        p.parent.name.replace("-", "_") for p in (REPO / "plugins").glob("*/pyproject.toml")
    }
    assert built == {"runwright"} | members  # one wheel per distribution of the workspace
    return dist


def fresh_venv(where: Path, wheels: Path, *requirements: str) -> Path:
    """A venv made by the standard library, packages installed by its own pip from the wheels."""
    venv.EnvBuilder(with_pip=True, clear=True).create(where)
    bin_dir = where / "bin"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UV", "VIRTUAL_ENV", "PYTHON"))}
    subprocess.run(
        [str(bin_dir / "python"), "-m", "pip", "install", "-q", "--find-links", str(wheels), *requirements],
        check=True,
        capture_output=True,
        env=env,
        timeout=600,
    )
    return bin_dir


def clean_env(bin_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UV", "VIRTUAL_ENV", "PYTHON", "RUNWRIGHT"))}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


def test_sqlite_extra_alone_records_runs_in_sqlite_by_default(wheels: Path, tmp_path: Path) -> None:
    bin_dir = fresh_venv(tmp_path / "venv", wheels, "runwright[sqlite]", "runwright-contrib")
    work = tmp_path / "work"
    shutil.copytree(REPO / "conf", work / "conf")
    env = clean_env(bin_dir)  # no RUNWRIGHT_AUDIT_URL: the one store installed is the default

    plugins = subprocess.run(
        [str(bin_dir / "runwright"), "plugins"], cwd=work, env=env, capture_output=True, text=True, timeout=60
    )
    assert plugins.returncode == 0, plugins.stderr
    assert "runwright-audit-sqlite 0.1.0" in plugins.stdout
    assert "runwright-audit-file" not in plugins.stdout  # only the extra that was asked for

    run = subprocess.run(
        [str(bin_dir / "runwright"), "run", "hello-world", "--conf", "conf", "--json"],
        cwd=work, env=env, capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert '"status": "SUCCESS"' in run.stdout
    database = work / ".runwright" / "audit.db"
    assert f"recording runs in sqlite:///{database}" in run.stderr and "warning" not in run.stderr

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    listed = subprocess.run(
        [str(bin_dir / "runwright"), "audit", "list", "hello-world", "--conf", str(work / "conf")],
        cwd=elsewhere, env=env, capture_output=True, text=True, timeout=60,
    )
    assert listed.returncode == 0, listed.stderr
    assert "hello-world" in listed.stdout and "SUCCESS" in listed.stdout


@pytest.mark.timeout(900)  # pip installs every plugin's dependencies (Dask, FastAPI, boto3, psycopg)
def test_the_readme_install_line_runs_the_readme_hello_world(wheels: Path, tmp_path: Path) -> None:
    """README: `pip install 'runwright[all]'` then `runwright run hello-world --conf conf`."""
    readme = (REPO / "README.md").read_text()
    assert "pip install 'runwright[all]'" in readme
    bin_dir = fresh_venv(tmp_path / "venv", wheels, "runwright[all]")
    work = tmp_path / "work"
    shutil.copytree(REPO / "conf", work / "conf")
    run = subprocess.run(
        [str(bin_dir / "runwright"), "run", "hello-world", "--conf", "conf", "--json"],
        cwd=work, env=clean_env(bin_dir), capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, run.stderr  # the shout filter and tasks/greet come from runwright-contrib
    assert '"status": "SUCCESS"' in run.stdout


def test_core_alone_runs_and_says_once_how_to_install_a_backend(wheels: Path, tmp_path: Path) -> None:
    bin_dir = fresh_venv(tmp_path / "venv", wheels, "runwright")
    work = tmp_path / "work"
    (work / "conf").mkdir(parents=True)
    (work / "conf" / "plain.yml").write_text(ECHO_ONLY, encoding="utf-8")
    run = subprocess.run(
        [str(bin_dir / "runwright"), "run", "plain", "--conf", "conf"],
        cwd=work, env=clean_env(bin_dir), capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "SUCCESS" in run.stdout
    warnings = [line for line in run.stderr.splitlines() if "audit" in line]
    assert len(warnings) == 1, run.stderr
    assert warnings == [
        "warning: no audit store is installed, so runs are not recorded: "
        "pip install 'runwright[sqlite]' (or [file], [postgres])"
    ]
