"""Broken and unwanted plugins: one line naming the plugin and its distribution, exit 2; skipping."""

from __future__ import annotations

import os
from pathlib import Path

from tests.conftest import run_cli


def install_fake_plugin(site: Path, dist_name: str, ep_name: str, module: str, source: str) -> None:
    """A real dist-info with a ``runwright`` entry point, importable from ``site``."""
    (site / f"{module}.py").write_text(source, encoding="utf-8")
    info = site / f"{dist_name.replace('-', '_')}-1.2.3.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist_name}\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text(f"[runwright]\n{ep_name} = {module}\n")


def env_with(site: Path, **extra: str) -> dict[str, str]:
    path = os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])
    return {"PYTHONPATH": path, **extra}


def test_plugin_with_import_error_is_one_line_naming_the_distribution(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    install_fake_plugin(site, "runwright-broken", "broken", "rw_broken", "import no_such_module_xyz\n")
    proc = run_cli("plugins", env=env_with(site))
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert "plugin 'broken' (runwright-broken 1.2.3)" in lines[0]
    assert "no_such_module_xyz" in lines[0]
    assert "RUNWRIGHT_DISABLE_PLUGINS=broken" in lines[0]
    assert "Traceback" not in proc.stderr


def test_plugin_with_misspelt_hook_is_one_line(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    source = (
        "from runwright import hookimpl\n\n"
        "@hookimpl\n"
        "def register_stage_typos(register):\n"
        "    pass\n"
    )
    install_fake_plugin(site, "runwright-typo", "typo", "rw_typo", source)
    proc = run_cli("plugins", env=env_with(site))
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert "plugin 'typo' (runwright-typo 1.2.3)" in lines[0]
    assert "register_stage_typos" in lines[0]


def test_disabled_plugins_are_skipped_by_entry_point_or_distribution_name(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    install_fake_plugin(site, "runwright-broken", "broken", "rw_broken", "raise RuntimeError('boom')\n")
    by_entry_point = run_cli("plugins", env=env_with(site, RUNWRIGHT_DISABLE_PLUGINS="broken"))
    assert by_entry_point.returncode == 0, by_entry_point.stderr
    by_distribution = run_cli("plugins", env=env_with(site, RUNWRIGHT_DISABLE_PLUGINS="x, runwright-broken"))
    assert by_distribution.returncode == 0, by_distribution.stderr
    # and the other plugins are still there
    assert "runwright-audit-sqlite" in by_distribution.stdout


def test_unknown_runwright_variable_is_a_warning_with_did_you_mean() -> None:
    proc = run_cli(
        "run", "hello-world", "--conf", "conf", env={"RUNWRIGHT_APP_STOP_BOUNDARY_DELTA": "PT1M"}
    )
    assert proc.returncode == 0, proc.stderr
    assert (
        "warning: environment variable RUNWRIGHT_APP_STOP_BOUNDARY_DELTA is not a runwright setting; "
        "did you mean RUNWRIGHT_STOP_BOUNDARY_DELTA?" in proc.stderr
    )
    typo = run_cli("plugins", env={"RUNWRIGHT_REGISTERY": "x"})
    assert "did you mean RUNWRIGHT_REGISTRY?" in typo.stderr


def test_every_runwright_variable_in_the_source_is_known() -> None:
    """A variable read anywhere in core or the plugins must be in KNOWN_VARIABLES (no false warning)."""
    import re

    from runwright.config import KNOWN_VARIABLES

    root = Path(__file__).resolve().parents[1]
    found: set[str] = set()
    constants: set[str] = set()  # Python names that merely start with RUNWRIGHT_
    for folder in ("core/src", "plugins"):
        for path in (root / folder).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            found.update(re.findall(r"RUNWRIGHT_[A-Z][A-Z_]*[A-Z]", text))
            constants.update(re.findall(r"^(RUNWRIGHT_[A-Z_]+)\s*[:=]", text, re.M))
    assert found - constants - KNOWN_VARIABLES == set()


ADD_WF = """
add-wf:
  type: Workflow
  jobs:
    j:
      stages:
        - id: s
          uses: tasks/add@v1
          with: {a: 1, b: 2}
"""


def write_registry_project(root: Path) -> None:
    """A user's project: conf/ and a registry package ``mytasks`` side by side, nothing installed."""
    (root / "conf").mkdir(parents=True)
    (root / "conf" / "add.yml").write_text(ADD_WF, encoding="utf-8")
    (root / "mytasks").mkdir()
    (root / "mytasks" / "__init__.py").write_text("", encoding="utf-8")
    (root / "mytasks" / "tasks.py").write_text(
        "from runwright import tag\n\n@tag('v1')\ndef add(a: int, b: int) -> dict:\n    return {'sum': a + b}\n",
        encoding="utf-8",
    )


def runwright_script() -> str:
    """The installed console script (not ``python -m``, which would put the cwd on sys.path itself)."""
    import shutil
    import sys

    script = Path(sys.executable).with_name("runwright")
    return str(script) if script.exists() else str(shutil.which("runwright"))


def test_registry_package_in_the_current_directory_is_importable(tmp_path: Path) -> None:
    import subprocess

    write_registry_project(tmp_path)
    env = {**os.environ, "RUNWRIGHT_REGISTRY": "mytasks"}
    proc = subprocess.run(
        [runwright_script(), "run", "add-wf", "--conf", "conf", "--json"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert '"sum": 3' in proc.stdout


def test_registry_package_that_cannot_be_imported_is_named_with_where_it_was_looked_for(tmp_path: Path) -> None:
    import subprocess

    write_registry_project(tmp_path)
    env = {**os.environ, "RUNWRIGHT_REGISTRY": "mytask"}
    proc = subprocess.run(
        [runwright_script(), "run", "add-wf", "--conf", "conf"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2  # refused by the checks before the run
    assert f"registry package 'mytask' (RUNWRIGHT_REGISTRY) could not be imported: there is no 'mytask' in the current directory ({tmp_path})" in proc.stderr
