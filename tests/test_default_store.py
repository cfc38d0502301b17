"""Which audit store a command uses when none is configured, and relative store paths.

A user who installed one store gets it by default and is told once where runs are recorded; a
user with none gets one line saying how to install one; a relative ``sqlite:///audit.db`` means
the same file from every folder (the state folder's), so ``audit list`` never reads an empty
store by accident without saying which store it read.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_cli

TEMPLATE = "hello:\n  type: Workflow\n  jobs:\n    j:\n      stages:\n        - {id: s, echo: hi}\n"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A conf folder with one workflow, and no RUNWRIGHT_AUDIT_URL (the default store is used)."""
    monkeypatch.delenv("RUNWRIGHT_AUDIT_URL")
    conf = tmp_path / "project" / "conf"
    conf.mkdir(parents=True)
    (conf / "hello.yml").write_text(TEMPLATE)
    return conf


def run_without_configured_store(conf: Path, *args: str, **env: str):
    return run_cli(*args, "--conf", str(conf), env=env, cwd=conf.parent.parent)


def test_with_only_sqlite_installed_runs_are_recorded_there_and_said_once(project: Path) -> None:
    only_sqlite = {"RUNWRIGHT_DISABLE_PLUGINS": "audit-file"}
    first = run_without_configured_store(project, "run", "hello", **only_sqlite)
    assert first.returncode == 0, first.stderr
    database = project.parent / ".runwright" / "audit.db"
    assert f"recording runs in sqlite:///{database}" in first.stderr
    assert "warning" not in first.stderr
    second = run_without_configured_store(project, "run", "hello", **only_sqlite)
    assert second.returncode == 0, second.stderr
    assert "recording runs in" not in second.stderr  # said once, when the store was new
    listed = run_without_configured_store(project, "audit", "list", "--json", **only_sqlite)
    assert listed.returncode == 0, listed.stderr
    assert [r["workflow"] for r in json.loads(listed.stdout)] == ["hello", "hello"]
    assert database.is_file()


def test_with_no_store_installed_the_run_runs_and_one_line_says_how_to_install_one(project: Path) -> None:
    result = run_without_configured_store(
        project, "run", "hello", RUNWRIGHT_DISABLE_PLUGINS="audit-file,audit-sqlite,audit-postgres"
    )
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "audit" in line]
    assert warnings == [
        "warning: no audit store is installed, so runs are not recorded: "
        "pip install 'runwright[sqlite]' (or [file], [postgres])"
    ]


def test_a_relative_sqlite_url_is_the_state_folders_file_from_any_folder(project: Path, tmp_path: Path) -> None:
    env = {"RUNWRIGHT_AUDIT_URL": "sqlite:///audit.db"}
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    ran = run_cli("run", "hello", "--conf", str(project), env=env, cwd=project.parent)
    assert ran.returncode == 0, ran.stderr
    assert (project.parent / ".runwright" / "audit.db").is_file()
    assert not (project.parent / "audit.db").exists()
    listed = run_cli("audit", "list", "--json", "--conf", str(project), env=env, cwd=elsewhere)
    assert listed.returncode == 0, listed.stderr
    assert [r["workflow"] for r in json.loads(listed.stdout)] == ["hello"]
    assert not (elsewhere / "audit.db").exists()


def test_audit_list_of_an_empty_store_names_the_store_it_read(project: Path) -> None:
    listed = run_without_configured_store(project, "audit", "list")
    assert listed.returncode == 0
    store = project.parent / ".runwright" / "audits"
    assert f"no release records in file://{store}" in listed.stderr
