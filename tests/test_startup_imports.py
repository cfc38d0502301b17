"""A command imports only what it uses: `--help` and `import runwright` stay light, and the plugins'
entry points are read from a cache that follows what is installed."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from runwright.masking import is_secret_name

from tests.conftest import REPO
from tests.test_plugin_loading import install_fake_plugin

HEAVY = ("pydantic", "jinja2", "yaml", "croniter", "fastapi")
#: typer (no longer used: it built a pydantic adapter per option) and rich (only the live board of a
#: run on a terminal): no help page imports them.
NOT_FOR_HELP = ("typer", "rich")
#: standard modules with a costly set-up that a help page has no use for: hashlib (OpenSSL, ~4 ms
#: here: the plugin cache's key is a zlib checksum), and base64 and urllib.parse with the ipaddress
#: module it imports (~3 ms), which the masking of a secret's encodings needs once one is registered.
NOT_FOR_PLAIN_HELP = ("hashlib", "_hashlib", "base64", "urllib.parse", "ipaddress")
#: pathlib (~6 ms with what it imports, a tenth of the page): paths are made by the commands that
#: use them; the help page, the plugin cache and ``serve``'s options work with strings.
NOT_FOR_ANY_HELP = ("pathlib",)
SHOW_MODULES = "import json, sys; print('MODULES=' + json.dumps(sorted(sys.modules)))"


def modules_after(
    code: str, env: dict[str, str] | None = None, base_env: dict[str, str] | None = None
) -> tuple[set[str], subprocess.CompletedProcess[str]]:
    """Run ``code`` in a fresh interpreter; the names in its ``sys.modules`` at the end."""
    full_env = {**(os.environ if base_env is None else base_env), **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=full_env, cwd=REPO, timeout=60
    )
    line = next((line for line in proc.stdout.splitlines() if line.startswith("MODULES=")), None)
    assert line is not None, proc.stdout + proc.stderr
    return set(json.loads(line.removeprefix("MODULES="))), proc


def cli_modules(
    *args: str, env: dict[str, str] | None = None, base_env: dict[str, str] | None = None
) -> tuple[set[str], subprocess.CompletedProcess[str]]:
    """The modules the real CLI entry point imported to run ``runwright ARGS``."""
    code = (
        f"import sys; sys.argv = ['runwright', *{list(args)!r}]\n"
        "from runwright.cli import main\n"
        "try:\n    main()\nexcept SystemExit as exit:\n    assert exit.code in (0, None), exit.code\n"
        f"{SHOW_MODULES}\n"
    )
    return modules_after(code, env, base_env)


def loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return [name for name in names if name in modules]


@pytest.fixture
def cache_home(tmp_path: Path) -> dict[str, str]:
    """A user cache folder of its own, warmed by one start (the first start learns the plugins)."""
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    cli_modules("--help", env=env)
    return env


def test_import_runwright_imports_no_heavy_library() -> None:
    modules, _ = modules_after(f"import runwright\n{SHOW_MODULES}")
    assert loaded(modules, (*HEAVY, *NOT_FOR_HELP, "click", "pluggy")) == []


def test_help_imports_no_model_template_or_web_library(cache_home: dict[str, str]) -> None:
    modules, proc = cli_modules("--help", env=cache_home)
    assert "run  " in proc.stdout and "serve  " in proc.stdout
    assert loaded(modules, (*HEAVY, *NOT_FOR_HELP, *NOT_FOR_ANY_HELP)) == []
    assert "importlib.metadata" not in modules  # the entry points came from the cache


def test_help_without_secrets_skips_hashing_and_base64(cache_home: dict[str, str]) -> None:
    environment = {name: value for name, value in os.environ.items() if not is_secret_name(name)}
    modules, proc = cli_modules("--help", env=cache_home, base_env=environment)
    assert "run  " in proc.stdout
    assert loaded(modules, NOT_FOR_PLAIN_HELP) == []
    assert not any(name.startswith("runwright.cli.run") for name in modules)


EVERY_HELP = r"""
import contextlib, io, json, sys
from runwright.cli import main
from runwright.cli.commands import COMMANDS

pages = {}
for path in [[name] for name in COMMANDS] + [["audit", "list"], ["audit", "show"], ["audit", "migrate"], ["serve"]]:
    sys.argv = ["runwright", *path, "--help"]
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        main()
    pages[" ".join(path)] = out.getvalue()
print("PAGES=" + json.dumps(pages))
print("MODULES=" + json.dumps(sorted(sys.modules)))
"""


def test_every_commands_help_imports_only_the_command_line(cache_home: dict[str, str]) -> None:
    """A command's ``--help`` imports its module and click, not the models, templates, engine or
    web stack the command imports when it runs (all the help pages in one process)."""
    modules, proc = modules_after(EVERY_HELP, cache_home)
    pages = json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("PAGES="))[6:])
    assert all(page.startswith("Usage: runwright") for page in pages.values()), pages
    assert "runwright.cli.run" in modules and "runwright.cli.schedule" in modules  # their help was built
    assert loaded(modules, (*HEAVY, *NOT_FOR_HELP)) == []
    ours = ("runwright.audit", "runwright.runtime", "runwright.models", "runwright.engine.runner", "runwright.check")
    assert loaded(modules, ours) == []


def test_run_imports_no_scheduler_web_or_terminal_library(cache_home: dict[str, str]) -> None:
    modules, proc = cli_modules("run", "hello-world", "--conf", "conf", "--quiet", env=cache_home)
    assert "hello-world: SUCCESS" in proc.stdout
    assert loaded(modules, ("croniter", "fastapi", "rich")) == []  # stdout is not a terminal


def test_command_list_short_help_matches_each_command_docstring() -> None:
    """COMMANDS is the one copy of each command's one-line help shown by `runwright --help`."""
    import importlib

    from runwright.cli.app import app
    from runwright.cli.commands import COMMANDS, LazyCommands

    for module, _ in COMMANDS.values():
        importlib.import_module(module)
    assert isinstance(app.commands, LazyCommands)
    real = app.commands.loaded
    assert set(real) == set(COMMANDS), "a command is missing from COMMANDS, or listed but not defined"
    for name, (_, short_help) in COMMANDS.items():
        first_paragraph = inspect.cleandoc(real[name].help or "").split("\n\n")[0].replace("\n", " ")
        assert short_help == first_paragraph, name


def test_help_lists_every_command_in_one_process(cache_home: dict[str, str]) -> None:
    from runwright.cli.commands import COMMANDS

    proc = subprocess.run(
        [sys.executable, "-m", "runwright", "--help"],
        capture_output=True, text=True, env={**os.environ, **cache_home}, cwd=REPO, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    listed = [line.split()[0] for line in proc.stdout.split("Commands:")[1].splitlines() if line.strip()]
    assert listed == [*COMMANDS, "serve"]


def test_a_plugin_installed_after_the_cache_was_written_is_found(tmp_path: Path, cache_home: dict[str, str]) -> None:
    site = tmp_path / "site"
    site.mkdir()
    env = {**cache_home, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    before = subprocess.run(
        [sys.executable, "-m", "runwright", "plugins"], capture_output=True, text=True, env={**os.environ, **env},
        cwd=REPO, timeout=60,
    )
    assert before.returncode == 0 and "runwright-late" not in before.stdout, before.stderr
    install_fake_plugin(site, "runwright-late", "late", "rw_late", "")
    after = subprocess.run(
        [sys.executable, "-m", "runwright", "plugins"], capture_output=True, text=True, env={**os.environ, **env},
        cwd=REPO, timeout=60,
    )
    assert after.returncode == 0, after.stderr
    assert "late  (runwright-late 1.2.3)" in after.stdout


def test_help_lists_plugins_commands_from_the_cache_without_loading_a_plugin(cache_home: dict[str, str]) -> None:
    """Once the command line has loaded the plugins, the help page lists their commands from the
    plugin cache: neither pluggy nor the plugin that adds ``serve`` is imported (~5 ms)."""
    modules, proc = cli_modules("--help", env=cache_home)
    serve_line = next(line for line in proc.stdout.splitlines() if line.strip().startswith("serve "))
    assert "Serve the workflow API" in serve_line
    assert loaded(modules, ("pluggy", "runwright.plugins", "runwright_api", "runwright_api.plugin")) == []
    modules, proc = cli_modules("serve", "--help", env=cache_home)  # asked for: the real command
    assert "--allow-host" in proc.stdout and "runwright_api.plugin" in modules
    modules, proc = cli_modules("--help", env={**cache_home, "RUNWRIGHT_DISABLE_PLUGINS": "api"})
    assert "serve " not in proc.stdout and "pause " in proc.stdout


CLI_PLUGIN = """
from runwright import hookimpl

@hookimpl
def register_cli_commands(app):
    import click

    @app.command("greet-all")
    def greet_all():
        \"\"\"Greet everybody ({words}).\"\"\"
        click.echo("hello all")
"""


def test_a_plugin_command_added_or_changed_by_an_install_is_listed(tmp_path: Path, cache_home: dict[str, str]) -> None:
    """The cache of plugins' commands follows what is installed: a newly installed plugin's
    command is listed (and learned), and a reinstall with another help text shows the new text."""
    site = tmp_path / "site"
    site.mkdir()
    env = {**cache_home, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    install_fake_plugin(site, "runwright-greeter", "greeter", "rw_greeter", CLI_PLUGIN.format(words="first"))
    modules, proc = cli_modules("--help", env=env)
    assert "Greet everybody (first)." in proc.stdout and "rw_greeter" in modules
    modules, proc = cli_modules("--help", env=env)  # learned: listed without importing it
    assert "Greet everybody (first)." in proc.stdout and "rw_greeter" not in modules
    modules, proc = cli_modules("greet-all", env=env)
    assert "hello all" in proc.stdout, proc.stderr
    (site / "rw_greeter.py").write_text(CLI_PLUGIN.format(words="second"), encoding="utf-8")
    info = site / "runwright_greeter-1.2.3.dist-info"
    info.rename(site / "runwright_greeter-1.2.4.dist-info")  # what a reinstall of a new version does
    modules, proc = cli_modules("--help", env=env)
    assert "Greet everybody (second)." in proc.stdout and "(first)" not in proc.stdout


def test_a_disabled_distribution_blocks_its_entry_point_name_in_the_cached_list_too(
    tmp_path: Path, cache_home: dict[str, str]
) -> None:
    """The help page's list from the cache follows the loading rules: an entry-point name that a
    disabled distribution declares is loaded from no distribution, so the plugin of that name
    learned earlier from another distribution adds no command, loaded or from the cache."""
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    path = os.pathsep.join([str(first), str(second), os.environ.get("PYTHONPATH", "")])
    install_fake_plugin(first, "runwright-greeter-b", "greeter", "rw_greeter_b", CLI_PLUGIN.format(words="b"))
    install_fake_plugin(second, "runwright-greeter-a", "greeter", "rw_greeter_a", CLI_PLUGIN.format(words="a"))
    modules, proc = cli_modules("--help", env={**cache_home, "PYTHONPATH": path})
    assert "Greet everybody (b)." in proc.stdout, proc.stdout  # the first of the name, learned
    disabled = {**cache_home, "PYTHONPATH": path, "RUNWRIGHT_DISABLE_PLUGINS": "runwright-greeter-a"}
    for _ in range(2):
        modules, proc = cli_modules("--help", env=disabled)
        assert "serve " in proc.stdout and "greet-all" not in proc.stdout, proc.stdout
    modules, proc = cli_modules("plugins", env=disabled)  # loading agrees
    assert "greeter" not in proc.stdout, proc.stdout


def test_a_corrupt_cache_is_ignored_and_rewritten(cache_home: dict[str, str]) -> None:
    files = list((Path(cache_home["XDG_CACHE_HOME"]) / "runwright").glob("entry-points-*.json"))
    assert files
    for path in files:
        path.write_text('{"version": 1, "indexes": ', encoding="utf-8")
    modules, proc = cli_modules("--help", env=cache_home)
    assert "serve  " in proc.stdout, proc.stderr
    for path in files:
        indexes = json.loads(path.read_text(encoding="utf-8"))["indexes"]
        assert any(entry["name"] == "api" for entries in indexes.values() for entry in entries)
    for path in files:  # entries of the wrong shape are ignored too
        path.write_text(json.dumps({"version": 1, "indexes": dict.fromkeys(indexes, [{"name": 1}])}))
    modules, proc = cli_modules("--help", env=cache_home)
    assert "serve  " in proc.stdout, proc.stderr
    for path in files:  # and so are remembered commands of the wrong shape
        document = json.loads(path.read_text(encoding="utf-8"))
        for entries in document["indexes"].values():
            for entry in entries:
                entry["commands"] = [{"name": "serve", "help": 3}]
        path.write_text(json.dumps(document), encoding="utf-8")
    modules, proc = cli_modules("--help", env=cache_home)
    assert "Serve the workflow API" in proc.stdout, proc.stderr


def test_an_unwritable_cache_folder_only_costs_a_scan(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("", encoding="utf-8")
    modules, proc = cli_modules("plugins", env={"XDG_CACHE_HOME": str(not_a_folder)})
    assert "api  (runwright-api" in proc.stdout, proc.stderr


def test_listing_plugins_does_not_import_the_s3_or_http_client(cache_home: dict[str, str]) -> None:
    """`runwright plugins` names the requests plugin's calls without importing botocore or
    requests (with urllib3): the client libraries are loaded by the calls that use them."""
    modules, proc = cli_modules("plugins", env=cache_home)
    assert "tasks/s3-put@requests" in proc.stdout and "tasks/http-request@requests" in proc.stdout
    assert loaded(modules, ("botocore", "boto3", "fastapi", "requests", "urllib3", "ijson")) == []
    # nor does it build a model (the first one reads every distribution's metadata for pydantic's
    # plugins, ~30 ms) or import the mail parser an HTTP date needs
    assert loaded(modules, ("importlib.metadata", "email.utils")) == []


def test_a_library_run_loads_plugins_without_their_heavy_modules(tmp_path: Path) -> None:
    """A script that runs a workflow through the Python API loads every plugin, but not the
    command line (click), the web stack, or an audit store's code it never records to."""
    code = (
        "from runwright import Workflow\n"
        f"result = Workflow.from_conf('hello-world', {str(REPO / 'conf')!r}).execute({{}})\n"
        "assert result.status.value == 'SUCCESS', result.status\n"
        f"{SHOW_MODULES}\n"
    )
    modules, proc = modules_after(code, {"RUNWRIGHT_LOG_PATH": str(tmp_path / "logs")})
    assert proc.returncode == 0, proc.stderr
    assert "runwright_api.plugin" in modules and "runwright_audit_sqlite.plugin" in modules
    heavy = ("click", "typer", "fastapi", "runwright_audit_file.backend", "runwright_audit_sqlite.backend", "psycopg")
    assert loaded(modules, heavy) == []


PLAIN_NAMES = """
plain:
  type: Workflow
  params:
    name: {type: str, default: ada}
  jobs:
    greet:
      stages:
        - {id: say, echo: "hello ${{ params.name }}"}
        - {id: tell, bash: 'echo "greeting=hi-${{ params.name }}" >> "$RUNWRIGHT_OUTPUT"'}
    build:
      needs: [greet]
      strategy:
        matrix: {os: [linux, mac]}
      stages:
        - id: "on-${{ matrix.os }}"
          bash: 'echo "msg=${{ jobs.greet.stages.tell.outputs.greeting }} on ${{ matrix.os }}" >> "$RUNWRIGHT_OUTPUT"'
"""


def run_template(tmp_path: Path, text: str, name: str) -> tuple[set[str], subprocess.CompletedProcess[str]]:
    conf = tmp_path / "conf"
    conf.mkdir(exist_ok=True)
    (conf / "flows.yml").write_text(text, encoding="utf-8")
    code = (
        "from runwright import Workflow\n"
        "from runwright.errors import RunwrightError\n"
        "try:\n"
        f"    result = Workflow.from_conf({name!r}, {str(conf)!r}).execute({{}})\n"
        "    print('STATUS=' + result.status.value)\n"
        "    print('OUT=' + repr(result.context['jobs']['build']['strategies']))\n"
        "except RunwrightError as exc:\n"
        "    print('ERROR=' + str(exc).replace(chr(10), ' '))\n"
        f"{SHOW_MODULES}\n"
    )
    return modules_after(code, {"RUNWRIGHT_LOG_PATH": str(tmp_path / "logs")})


def test_a_template_of_plain_names_is_checked_and_runs_without_jinja(tmp_path: Path) -> None:
    """``${{ params.x }}``-style names are looked up, and checked, without loading jinja2 (about a
    tenth of a fresh process); the run's values are the same as jinja would give."""
    modules, proc = run_template(tmp_path, PLAIN_NAMES, "plain")
    assert "STATUS=SUCCESS" in proc.stdout, proc.stdout + proc.stderr
    assert "hi-ada on linux" in proc.stdout and "hi-ada on mac" in proc.stdout
    assert loaded(modules, ("jinja2",)) == []


def test_a_misspelt_plain_name_is_caught_without_jinja(tmp_path: Path) -> None:
    modules, proc = run_template(tmp_path, PLAIN_NAMES.replace("params.name }}\"}", "params.nmae }}\"}"), "plain")
    assert "ERROR=" in proc.stdout, proc.stdout + proc.stderr
    assert "params has no 'nmae' (did you mean 'name'?)" in proc.stdout
    assert loaded(modules, ("jinja2",)) == []


def test_a_filter_loads_jinja_when_it_is_needed(tmp_path: Path) -> None:
    modules, proc = run_template(tmp_path, PLAIN_NAMES.replace("params.name }}\"}", "params.name | upper }}\"}"), "plain")
    assert "STATUS=SUCCESS" in proc.stdout, proc.stdout + proc.stderr
    assert "jinja2" in modules


def test_files_written_beside_a_script_keep_the_plugin_cache(tmp_path: Path) -> None:
    """The entry-point cache follows what is installed, not every file written in a folder on
    ``sys.path`` (a script's own folder changes with each output it writes)."""
    from runwright.plugin_index import installed_fingerprint

    folder = str(tmp_path)
    before = installed_fingerprint([folder])
    (tmp_path / "output.csv").write_text("a,b\n", encoding="utf-8")
    (tmp_path / "logs").mkdir()
    assert installed_fingerprint([folder]) == before
    (tmp_path / "mytool-1.0.dist-info").mkdir()
    with_metadata = installed_fingerprint([folder])
    assert with_metadata != before
    (tmp_path / "mytool-1.0.dist-info" / "entry_points.txt").write_text("[runwright]\nx = y\n", encoding="utf-8")
    assert installed_fingerprint([folder]) != with_metadata


EXIT_PROBE = """
import atexit, gc, os, sys
atexit.register(lambda: print(f"FROZEN_AT_EXIT={gc.get_freeze_count()}", flush=True))  # runs last
from runwright import Workflow
result = Workflow.from_conf('hello-world', CONF).execute({})
atexit.register(lambda: print("USER_HANDLER_RAN", flush=True))  # registered after: runs first
import tempfile
leftover = tempfile.TemporaryDirectory()  # cleaned up by its own finalizer at exit
print("LEFTOVER=" + leftover.name, flush=True)
print("STATUS=" + result.status.value, flush=True)
"""


def test_a_process_that_ran_a_workflow_skips_the_collectors_scan_at_exit(tmp_path: Path) -> None:
    """At exit the collector is frozen, so the interpreter does not scan every object the
    process built (models, modules) once more: a tenth of a short run's wall time. Atexit
    handlers and finalizers registered with ``weakref.finalize`` still run."""
    proc = subprocess.run(
        [sys.executable, "-c", EXIT_PROBE.replace("CONF", repr(str(REPO / "conf")))],
        capture_output=True, text=True, cwd=REPO, timeout=60,
        env={**os.environ, "RUNWRIGHT_LOG_PATH": str(tmp_path / "logs")},
    )
    assert proc.returncode == 0, proc.stderr
    assert "STATUS=SUCCESS" in proc.stdout
    assert "USER_HANDLER_RAN" in proc.stdout
    frozen = int(proc.stdout.split("FROZEN_AT_EXIT=")[1].split()[0])
    assert frozen > 10_000, proc.stdout
    leftover = Path(proc.stdout.split("LEFTOVER=")[1].split()[0])
    assert not leftover.exists()


def test_importing_runwright_alone_leaves_the_collector_as_it_is() -> None:
    """Only a process that built a runtime freezes at exit; importing the package changes nothing."""
    code = "import atexit, gc\natexit.register(lambda: print(f'FROZEN_AT_EXIT={gc.get_freeze_count()}'))\nimport runwright"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert "FROZEN_AT_EXIT=0" in proc.stdout, proc.stdout + proc.stderr


def test_a_template_of_echo_stages_imports_no_other_stage_kind(tmp_path: Path) -> None:
    """Built-in stage kinds are imported when a template names them: an ``echo:`` run does not
    pay for the ``bash:``, ``run:`` or ``deps:`` machinery (about 15 ms of a fresh process)."""
    echoes = "\n".join(line for line in PLAIN_NAMES.splitlines() if "bash:" not in line)
    modules, proc = run_template(tmp_path, echoes.replace("jobs.greet.stages.tell.outputs.greeting", "params.name"), "plain")
    assert "STATUS=SUCCESS" in proc.stdout, proc.stdout + proc.stderr
    kinds = tuple(f"runwright.stages.{name}" for name in ("bash", "py", "py_venv", "case", "until", "trigger"))
    assert loaded(modules, kinds) == []
    assert "runwright.stages.echo" in modules


@pytest.mark.parametrize("args", [["--help"], ["plugins"]])
def test_a_command_line_process_skips_the_collectors_scan_at_exit(args: list[str], cache_home: dict[str, str]) -> None:
    """The command line owns its process: whatever the command, it exits without the
    shutdown collections (``runwright plugins`` imports every plugin and builds no runtime)."""
    code = (
        "import atexit, gc, sys\n"
        "atexit.register(lambda: print(f'FROZEN_AT_EXIT={gc.get_freeze_count()}', flush=True))\n"
        f"sys.argv = ['runwright', *{args!r}]\n"
        "from runwright.cli import main\n"
        "main()\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60,
        env={**os.environ, **cache_home},
    )
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout.split("FROZEN_AT_EXIT=")[1].split()[0]) > 1000, proc.stdout[-300:]
