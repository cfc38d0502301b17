"""``${NAME}`` values from the secret sources: the environment, ``.env`` files (working directory,
conf folder), a folder of one file per secret, and any plugin's source (the hook).

Real runs: the CLI in a subprocess (its working directory chosen), the audit store on disk.
A value from any source reaches the stage, is masked everywhere it could show, is never stored
and is read again, from the sources, by a rerun.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from runwright import Workflow
from runwright.audit import make_audit_backend
from runwright.config import Settings
from runwright.errors import EnvSubstitutionError
from runwright.hookspecs import hookimpl
from runwright.plugins import get_plugin_manager
from runwright.runtime import Runtime

from tests.conftest import run_cli

SHOW = """
show:
  type: Workflow
  params:
    token: {{type: str, default: "${{API_TOKEN}}"}}
  jobs:
    j:
      stages:
        - id: use
          bash: 'printf %s "$T|$U" > {seen}; echo "printing $T"; test -e {gate}'
          env: {{T: "${{{{ params.token }}}}", U: "${{DB_URL}}"}}
"""


def written_everywhere(result, tmp_path: Path) -> str:
    texts = [result.stdout, result.stderr]
    texts += [p.read_text(encoding="utf-8", errors="replace") for p in tmp_path.rglob("*.jsonl")]
    texts += [
        p.read_text(encoding="utf-8", errors="replace")
        for p in (tmp_path / "audits").rglob("*")
        if p.is_file()
    ]
    return "\n".join(texts)


def test_a_conf_folder_dotenv_gives_values_masked_stored_never_and_read_again_on_rerun(
    conf, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen, gate = tmp_path / "seen", tmp_path / "gate"
    folder = conf(SHOW.format(seen=seen, gate=gate))
    (folder / ".env").write_text(
        'API_TOKEN="tok-FromDotenv-4242"\nDB_URL=postgres://db/etl\n', encoding="utf-8"
    )
    monkeypatch.delenv("API_TOKEN", raising=False)
    monkeypatch.delenv("DB_URL", raising=False)
    first = run_cli("run", "show", "--conf", str(folder), "--json", cwd=tmp_path)
    assert first.returncode == 1, first.stderr  # the gate is shut: FAILED, to be rerun
    assert seen.read_text() == "tok-FromDotenv-4242|postgres://db/etl"
    document = json.loads(first.stdout)
    assert document["context"]["params"] == {"token": "***"}
    assert "tok-FromDotenv-4242" not in written_everywhere(first, tmp_path)
    assert "postgres://db/etl" in seen.read_text()  # a name that marks no secret is not masked
    record = make_audit_backend().get(document["run_id"])
    assert record is not None and record.secret_params == {"token": [{"env": "API_TOKEN"}]}

    gate.touch()
    (folder / ".env").write_text('API_TOKEN="tok-Rotated-5151"\nDB_URL=postgres://db/etl\n', encoding="utf-8")
    again = run_cli("rerun", document["run_id"], "--conf", str(folder), "--json", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert seen.read_text() == "tok-Rotated-5151|postgres://db/etl"
    assert "tok-Rotated-5151" not in written_everywhere(again, tmp_path)

    (folder / ".env").write_text("DB_URL=postgres://db/etl\n", encoding="utf-8")
    gone = run_cli("rerun", document["run_id"], "--conf", str(folder), cwd=tmp_path)
    assert gone.returncode == 2
    assert "API_TOKEN" in gone.stderr and f".env file {folder / '.env'}" in gone.stderr
    assert "Traceback" not in gone.stderr


def test_sources_are_asked_in_the_documented_order(
    conf, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen, gate = tmp_path / "seen", tmp_path / "gate"
    gate.touch()
    folder = conf(SHOW.format(seen=seen, gate=gate))
    workdir = tmp_path / "work"
    secrets = tmp_path / "secrets"
    workdir.mkdir()
    secrets.mkdir()
    (folder / ".env").write_text("API_TOKEN=from-conf-dotenv\nDB_URL=conf-url\n", encoding="utf-8")
    monkeypatch.delenv("API_TOKEN", raising=False)
    monkeypatch.delenv("DB_URL", raising=False)

    def seen_after_run(**env: str) -> str:
        done = run_cli("run", "show", "--conf", str(folder), cwd=workdir, env=env)
        assert done.returncode == 0, done.stderr
        return seen.read_text()

    assert seen_after_run() == "from-conf-dotenv|conf-url"
    (workdir / ".env").write_text("API_TOKEN=from-workdir-dotenv\n", encoding="utf-8")
    assert seen_after_run() == "from-workdir-dotenv|conf-url"  # the working directory's wins
    (secrets / "API_TOKEN").write_text("from-secrets-folder\n", encoding="utf-8")
    assert seen_after_run(RUNWRIGHT_SECRETS_DIR=str(secrets)) == "from-secrets-folder|conf-url"
    assert seen_after_run(RUNWRIGHT_SECRETS_DIR=str(secrets), API_TOKEN="from-environment") == (
        "from-environment|conf-url"
    )


def test_a_secrets_folder_value_is_masked_whatever_its_name(conf, tmp_path: Path, monkeypatch) -> None:
    seen, gate = tmp_path / "seen", tmp_path / "gate"
    gate.touch()
    folder = conf(SHOW.format(seen=seen, gate=gate))
    secrets = tmp_path / "secrets"
    (secrets / "..data").mkdir(parents=True)  # Kubernetes' layout: hidden entries are not secrets
    (secrets / "API_TOKEN").write_text("tok-Mounted-1234\n", encoding="utf-8")
    (secrets / "DB_URL").write_text("postgres://ada:pw-Mounted-88@db/etl", encoding="utf-8")
    monkeypatch.delenv("API_TOKEN", raising=False)
    monkeypatch.delenv("DB_URL", raising=False)
    done = run_cli(
        "run",
        "show",
        "--conf",
        str(folder),
        "--json",
        cwd=tmp_path,
        env={"RUNWRIGHT_SECRETS_DIR": str(secrets)},
    )
    assert done.returncode == 0, done.stderr
    assert seen.read_text() == "tok-Mounted-1234|postgres://ada:pw-Mounted-88@db/etl"
    everything = written_everywhere(done, tmp_path)
    assert "printing ***" in everything
    assert "tok-Mounted-1234" not in everything and "pw-Mounted-88" not in everything


def test_a_name_no_source_holds_is_an_error_naming_where_it_was_looked_for(
    conf, tmp_path: Path, monkeypatch
) -> None:
    folder = conf(SHOW.format(seen=tmp_path / "seen", gate=tmp_path / "gate"))
    monkeypatch.delenv("API_TOKEN", raising=False)
    monkeypatch.delenv("DB_URL", raising=False)
    monkeypatch.setenv("RUNWRIGHT_SECRETS_DIR", str(tmp_path / "secrets"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(EnvSubstitutionError) as caught:
        Workflow.from_conf("show", folder)
    message = str(caught.value)
    assert "environment variable(s) not set: API_TOKEN, DB_URL" in message
    assert (
        f"looked in: the environment, secrets folder {tmp_path / 'secrets'} (RUNWRIGHT_SECRETS_DIR), "
        f".env file {tmp_path / '.env'} (working directory), .env file {folder / '.env'} (conf folder)"
    ) in message


class VaultSource:
    """A plugin's source: it counts what it is asked."""

    order = 400
    label = "the test vault"
    always_secret = True

    def __init__(self) -> None:
        self.reads: list[str] = []

    def names(self) -> list[str]:
        return ["API_TOKEN"]

    def get(self, name: str) -> str | None:
        self.reads.append(name)
        return "tok-FromVault-777" if name == "API_TOKEN" else None


class VaultPlugin:
    def __init__(self) -> None:
        self.source = VaultSource()

    @hookimpl
    def secret_sources(self, conf_path: Path | None) -> list[object]:
        return [self.source]


def vault_runtime(vault: VaultPlugin) -> Runtime:
    settings = Settings.from_env()
    return Runtime(get_plugin_manager(settings, extra_plugins=(vault,), stage_kinds_on_demand=True), settings)


def test_a_plugin_source_through_the_hook_and_what_validate_reads(conf, tmp_path: Path, monkeypatch) -> None:
    from runwright.check.conf import check_conf

    seen, gate = tmp_path / "seen", tmp_path / "gate"
    gate.touch()
    folder = conf(SHOW.format(seen=seen, gate=gate))
    monkeypatch.delenv("API_TOKEN", raising=False)
    monkeypatch.setenv("DB_URL", "postgres://db/etl")
    monkeypatch.chdir(tmp_path)
    vault = VaultPlugin()

    report = check_conf(folder, vault_runtime(vault))
    assert [f for f in report.findings if f.rule == "env-missing"] == []  # the vault can give it
    assert vault.source.reads == []  # validate asked for names, never for a value

    monkeypatch.delenv("DB_URL")
    report = check_conf(folder, vault_runtime(vault))
    [missing] = [f for f in report.findings if f.rule == "env-missing"]
    assert "'DB_URL' is not set" in missing.message
    assert f"looked in: the environment, .env file {tmp_path / '.env'} (working directory)" in missing.message
    assert "the test vault" in missing.message

    monkeypatch.setenv("DB_URL", "postgres://db/etl")
    result = Workflow.from_conf("show", folder, runtime=vault_runtime(vault)).execute()
    assert result.status.value == "SUCCESS", result.errors
    assert seen.read_text() == "tok-FromVault-777|postgres://db/etl"
    assert result.to_dict()["context"]["params"] == {"token": "***"}


SCHEDULED = """
scheduled-token:
  type: Workflow
  on: [{cronjob: "* * * * *", retry-crashed: true}]
  params: {token: str}
  jobs:
    j: {stages: [{id: s, echo: "${{ params.token }}"}]}
"""


def test_a_crash_re_release_reads_a_folder_secret_again(conf, tmp_path: Path, monkeypatch) -> None:
    from datetime import UTC, datetime, timedelta

    from runwright.audit import ReleaseRecord
    from runwright.schedule.clock import SimulatedClock
    from runwright.schedule.scheduler import Scheduler

    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    folder = conf(SCHEDULED)
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "SERVICE_TOKEN").write_text("svc-FromFolder-9090\n", encoding="utf-8")
    monkeypatch.setenv("RUNWRIGHT_SECRETS_DIR", str(secrets))
    monkeypatch.delenv("SERVICE_TOKEN", raising=False)
    monkeypatch.chdir(tmp_path)
    audit = make_audit_backend()
    audit.claim(
        ReleaseRecord(
            workflow="scheduled-token",
            release=t0,
            run_id="dead-run",
            pid=2**22 + 4321,
            type="scheduled",
            params={"token": "***"},
            secret_params={"token": [{"env": "SERVICE_TOKEN"}]},
        )
    )
    outcomes = Scheduler(folder, clock=SimulatedClock(t0 + timedelta(seconds=30))).run(
        until=t0 + timedelta(seconds=40)
    )
    [retried] = [o for o in outcomes if o.ran]
    assert retried.status == "SUCCESS"
    assert retried.result is not None and retried.result.context["params"]["token"] == "svc-FromFolder-9090"
    stored = audit.get(retried.run_id)
    assert stored is not None and "svc-FromFolder-9090" not in stored.model_dump_json()
