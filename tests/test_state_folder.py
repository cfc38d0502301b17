"""One state folder: runs of a conf path are recorded beside it, whatever the current directory."""

from __future__ import annotations

import json
from pathlib import Path

from runwright.state import state_dir

from tests.api.conftest import start_server, stop_server
from tests.conftest import run_cli

HELLO = """
hello:
  type: Workflow
  jobs:
    greet:
      stages:
        - {id: say, echo: "hello from the state folder test"}
"""

DEFAULTS = {"RUNWRIGHT_AUDIT_URL": "", "RUNWRIGHT_LOG_PATH": "", "RUNWRIGHT_HOME": ""}  # empty: unset


def project(tmp_path: Path) -> Path:
    conf = tmp_path / "project" / "conf"
    conf.mkdir(parents=True)
    (conf / "hello.yml").write_text(HELLO, encoding="utf-8")
    for where in ("elsewhere", "somewhere/else"):
        (tmp_path / where).mkdir(parents=True)
    return conf


def listed(conf_arg: str, cwd: Path, env: dict[str, str]) -> list[dict]:
    done = run_cli("audit", "list", "--conf", conf_arg, "--json", cwd=cwd, env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_runs_are_recorded_beside_the_conf_folder_and_seen_from_any_directory(tmp_path: Path) -> None:
    conf = project(tmp_path)
    ran = run_cli("run", "hello", "--conf", "project/conf", "--json", cwd=tmp_path, env=DEFAULTS)
    assert ran.returncode == 0, ran.stderr
    run_id = json.loads(ran.stdout)["run_id"]
    state = tmp_path / "project" / ".runwright"
    assert (state / "logs" / f"{run_id}.jsonl").is_file()
    assert (state / "audits").is_dir()
    assert not (tmp_path / "logs").exists() and not (tmp_path / "audits").exists()

    records = listed("../../project/conf", tmp_path / "somewhere" / "else", DEFAULTS)
    assert [(r["run_id"], r["status"]) for r in records] == [(run_id, "SUCCESS")]
    shown = run_cli("audit", "show", run_id, "--conf", str(conf), cwd=tmp_path / "elsewhere", env=DEFAULTS)
    assert shown.returncode == 0 and json.loads(shown.stdout)["workflow"] == "hello"
    logs = run_cli("logs", run_id, "--conf", str(conf), cwd=tmp_path / "elsewhere", env=DEFAULTS)
    assert logs.returncode == 0, logs.stderr
    assert "hello from the state folder test" in logs.stdout
    # RUNWRIGHT_CONF is the same conf path as --conf
    assert listed(str(conf), tmp_path / "elsewhere", {**DEFAULTS, "RUNWRIGHT_CONF": str(conf)})


def test_runwright_home_and_explicit_paths_win(tmp_path: Path) -> None:
    conf = project(tmp_path)
    home = tmp_path / "home"
    env = {**DEFAULTS, "RUNWRIGHT_HOME": str(home)}
    ran = run_cli("run", "hello", "--conf", str(conf), "--json", cwd=tmp_path / "elsewhere", env=env)
    assert ran.returncode == 0, ran.stderr
    run_id = json.loads(ran.stdout)["run_id"]
    assert (home / "logs" / f"{run_id}.jsonl").is_file()
    assert not (tmp_path / "project" / ".runwright" / "logs").exists()
    assert [r["run_id"] for r in listed(str(conf), tmp_path, env)] == [run_id]

    explicit = {
        **env,
        "RUNWRIGHT_LOG_PATH": str(tmp_path / "my-logs"),
        "RUNWRIGHT_AUDIT_URL": f"file://{tmp_path / 'my-audits'}",
    }
    again = run_cli("run", "hello", "--conf", str(conf), "--json", cwd=tmp_path, env=explicit)
    second = json.loads(again.stdout)["run_id"]
    assert (tmp_path / "my-logs" / f"{second}.jsonl").is_file()
    assert [r["run_id"] for r in listed(str(conf), tmp_path / "elsewhere", explicit)] == [second]


def test_the_api_reads_and_writes_the_state_folder_the_cli_uses(tmp_path: Path) -> None:
    root = tmp_path / "served"
    server = start_server(root, env=DEFAULTS)
    try:
        run_id = server.trigger("hello", {"name": "ada"})
        assert server.wait_status(run_id)["status"] == "SUCCESS"
        trace = server.client.get(server.api(f"/runs/{run_id}/logs"), params={"follow": "false"})
        assert trace.status_code == 200 and "run-end" in trace.text
    finally:
        stop_server(server)
    assert (root / ".runwright" / "logs" / f"{run_id}.jsonl").is_file()
    assert run_id in [r["run_id"] for r in listed(str(root / "conf"), tmp_path, DEFAULTS)]


def test_the_state_folder_rule() -> None:
    env = {"RUNWRIGHT_CONF": "/srv/flows/conf"}
    assert state_dir(None, env) == Path("/srv/flows/.runwright")
    assert state_dir("/srv/flows/conf/", {}) == Path("/srv/flows/.runwright")
    assert state_dir("/srv/jobs/etl.yml", {}) == Path("/srv/jobs/.runwright")
    assert state_dir("/srv/flows/conf", {"RUNWRIGHT_HOME": "/var/lib/rw"}) == Path("/var/lib/rw")
    assert state_dir(None, {}) == Path.cwd() / ".runwright"  # ./conf by default


def test_records_in_the_old_default_store_are_never_silently_orphaned(tmp_path: Path) -> None:
    """Before the state folder the default store was ./audits; a command that would start an
    empty store beside such records refuses, naming both places, instead of releasing again
    what they say was released."""
    project(tmp_path)
    old = run_cli(
        "run", "hello", "--conf", "project/conf", "--json", cwd=tmp_path,
        env={**DEFAULTS, "RUNWRIGHT_AUDIT_URL": f"file://{tmp_path / 'audits'}"},
    )
    assert old.returncode == 0, old.stderr  # a record in ./audits, as older versions wrote it
    refused = run_cli("run", "hello", "--conf", "project/conf", cwd=tmp_path, env=DEFAULTS)
    assert refused.returncode == 2
    assert f"audit records are in {tmp_path / 'audits'}" in refused.stderr
    assert str(tmp_path / "project" / ".runwright" / "audits") in refused.stderr
    assert "Traceback" not in refused.stderr
    assert not (tmp_path / "project" / ".runwright" / "audits").exists()

    kept = run_cli(
        "run", "hello", "--conf", "project/conf", cwd=tmp_path,
        env={**DEFAULTS, "RUNWRIGHT_AUDIT_URL": f"file://{tmp_path / 'audits'}"},
    )
    assert kept.returncode == 0, kept.stderr
    (tmp_path / "audits").rename(tmp_path / "project" / ".runwright" / "audits")
    moved = run_cli("run", "hello", "--conf", "project/conf", "--json", cwd=tmp_path, env=DEFAULTS)
    assert moved.returncode == 0, moved.stderr
    assert len(listed("project/conf", tmp_path, DEFAULTS)) == 3  # every run, in the one store
