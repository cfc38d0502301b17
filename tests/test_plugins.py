"""The plugin manager: built-ins through the hooks, entry points, tracing, typos fail fast."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pluggy
import pytest
from runwright import Status, Workflow
from runwright.config import Settings
from runwright.errors import PluginLoadError, RunwrightError
from runwright.plugins import describe_plugins, get_plugin_manager
from runwright.runtime import Runtime

from tests.conftest import run_cli

FIXTURE = Path(__file__).parent / "fixtures" / "tiny_plugin"


@pytest.fixture
def installed_tiny_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Install the tiny plugin as a real dist-info with an entry point, on sys.path."""
    site = tmp_path / "site"
    shutil.copytree(FIXTURE / "runwright_tiny", site / "runwright_tiny")
    dist = site / "runwright_tiny-0.3.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: runwright-tiny\nVersion: 0.3.0\n")
    (dist / "entry_points.txt").write_text("[runwright]\ntiny = runwright_tiny\n")
    monkeypatch.syspath_prepend(str(site))
    yield site
    sys.modules.pop("runwright_tiny", None)


TINY_WF = """
uses-tiny:
  type: Workflow
  jobs:
    j:
      stages:
        - id: loud
          shout: "${{ 'abc' | reverse }}"
        - id: twice
          uses: tiny/double@v1
          with: {value: 21}
"""


def test_entry_point_plugin_is_usable_from_yaml(installed_tiny_plugin, conf) -> None:
    folder = conf(TINY_WF)
    settings = Settings.from_env()
    runtime = Runtime(get_plugin_manager(settings), settings)
    assert "shout" in runtime.stage_kinds and "reverse" in runtime.filters
    result = Workflow.from_conf("uses-tiny", folder, runtime=runtime).execute()
    assert result.status is Status.SUCCESS, result.errors
    stages = result.context["jobs"]["j"]["stages"]
    assert stages["loud"]["outputs"] == {"loud": "CBA"}
    assert stages["twice"]["outputs"] == {"doubled": 42}


def test_cli_lists_plugins_and_runs_them(installed_tiny_plugin, conf) -> None:
    folder = conf(TINY_WF)
    env = {"PYTHONPATH": os.pathsep.join([str(installed_tiny_plugin), os.environ.get("PYTHONPATH", "")])}
    listed = run_cli("plugins", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    plugins = {p["name"]: p for p in json.loads(listed.stdout)}
    tiny = plugins["tiny"]
    assert (tiny["distribution"], tiny["version"]) == ("runwright-tiny", "0.3.0")
    assert tiny["provides"] == {
        "stage types": ["shout"],
        "filters": ["reverse"],
        "calls": ["tiny/double@v1"],
    }
    assert plugins["runwright.stages.bash"]["provides"]["stage types"] == ["bash"]
    assert "fmt" in plugins["runwright.templating.filters"]["provides"]["filters"]
    text = run_cli("plugins", env=env)
    assert "tiny  (runwright-tiny 0.3.0)" in text.stdout
    ran = run_cli("run", "uses-tiny", "--conf", str(folder), "--json", env=env)
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["context"]["jobs"]["j"]["stages"]["loud"]["outputs"] == {"loud": "CBA"}


def test_autoload_can_be_disabled(installed_tiny_plugin, monkeypatch) -> None:
    monkeypatch.setenv("RUNWRIGHT_DISABLE_PLUGIN_AUTOLOAD", "1")
    pm = get_plugin_manager()
    assert pm.get_plugin("tiny") is None
    assert "shout" not in Runtime(pm).stage_kinds
    # built-ins still arrive through the hooks
    assert {"echo", "bash", "run", "uses", "raise"} <= set(Runtime(pm).stage_kinds)


def test_misspelt_hook_fails_fast() -> None:
    class Typo:
        @pluggy.HookimplMarker("runwright")
        def register_stage_typs(self, register):  # noqa: ANN001 - deliberately misspelt
            pass

    with pytest.raises(PluginLoadError, match="register_stage_typs") as caught:
        get_plugin_manager(extra_plugins=(Typo(),))
    assert isinstance(caught.value.__cause__, pluggy.PluginValidationError)


def test_trace_plugins_prints_hook_calls() -> None:
    result = run_cli("plugins", env={"RUNWRIGHT_TRACE_PLUGINS": "1"})
    assert result.returncode == 0
    assert "register_stage_types" in result.stderr
    assert "list_calls" in result.stderr


def test_each_manager_is_fresh() -> None:
    """A plugin added to one manager is unknown to the next: no state is shared between them."""
    from runwright.errors import ExpressionError
    from runwright.hookspecs import hookimpl

    class Exclaim:
        @hookimpl
        def register_filters(self, register) -> None:
            register("exclaim_once_more", lambda value: str(value).upper() + "!")

    settings = Settings.from_env()
    first = get_plugin_manager(settings)
    first.register(Exclaim(), name="exclaim")
    text = "${{ 'hi' | exclaim_once_more }}"
    assert Runtime(first, settings).expressions.render(text, {}) == "HI!"
    second = get_plugin_manager(settings)
    assert "exclaim" not in {info.name for info in describe_plugins(second)}
    assert "exclaim" in {info.name for info in describe_plugins(first)}
    with pytest.raises(ExpressionError, match="unknown filter: 'exclaim_once_more'"):
        Runtime(second, settings).expressions.render(text, {})


def test_registry_packages_are_asked_before_plugins(installed_tiny_plugin, tmp_path, monkeypatch) -> None:
    """RUNWRIGHT_REGISTRY first, then plugins: a user's own tiny/double@v1 wins."""
    package = tmp_path / "mine" / "my_reg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "tiny.py").write_text(
        "from runwright import custom_filter, tag\n@tag('v1')\ndef double(value: int):\n"
        "    return {'mine': value}\n@custom_filter('reverse')\ndef rev(value):\n    return 'mine'\n"
        "@custom_filter('upper')\ndef up(value):\n    return 'MINE'\n"
    )
    monkeypatch.syspath_prepend(str(package.parent))
    monkeypatch.setenv("RUNWRIGHT_REGISTRY", "my_reg")
    settings = Settings.from_env()
    runtime = Runtime(get_plugin_manager(settings), settings)
    assert runtime.resolve_call("tiny/double@v1").func(value=2) == {"mine": 2}
    # and its custom filters win over a plugin's and a built-in's of the same name
    assert runtime.expressions.render("${{ 'x' | reverse }} ${{ 'x' | upper }}", {}) == "mine MINE"
    sys.modules.pop("my_reg", None)
    sys.modules.pop("my_reg.tiny", None)


class ClaimsBash:
    """An outside plugin whose stage kind claims the built-in ``bash:`` key."""

    @pluggy.HookimplMarker("runwright")
    def register_stage_types(self, register):  # noqa: ANN001 - a hook implementation
        from runwright.models.stage import Stage

        class OtherBash(Stage):
            kind = "bash"
            bash: str

        register(OtherBash)


@pytest.mark.parametrize("on_demand", [False, True], ids=["eager", "on-demand"])
def test_a_plugin_claiming_a_builtin_key_is_refused(on_demand: bool) -> None:
    """Built-in kinds registered on first use still clash with a plugin's kind of the same key,
    at start-up, as eagerly registered ones do: never a silent override of ``bash:``."""
    pm = get_plugin_manager(extra_plugins=(ClaimsBash(),), stage_kinds_on_demand=on_demand)
    with pytest.raises(RunwrightError, match="two stage types claim the key 'bash'"):
        Runtime(pm)


def test_builtin_kinds_are_registered_when_a_template_first_names_them(conf, tmp_path: Path) -> None:
    """A runtime imports a built-in kind's module when a template holds its key, registers the
    module as a plugin (its ``stage_scopes`` hook answers the static check) and runs it."""
    settings = Settings.from_env()
    runtime = Runtime(get_plugin_manager(settings, stage_kinds_on_demand=True), settings)
    assert runtime.pm.get_plugin("runwright.stages.foreach") is None
    assert "foreach" in runtime.stage_kinds and "echo" in runtime.stage_kinds
    folder = conf(
        """
        looped:
          type: Workflow
          jobs:
            j:
              stages:
                - id: each
                  foreach: [a, b]
                  stages:
                    - {id: say, echo: "item ${{ item }}"}
        """
    )
    result = Workflow.from_conf("looped", folder, runtime=runtime).execute({})
    assert result.status == Status.SUCCESS, result.errors
    assert runtime.pm.get_plugin("runwright.stages.foreach") is not None
    assert runtime.pm.get_plugin("runwright.stages.bash") is None


def test_a_lazily_registered_bash_kind_still_leaves_its_script_to_the_shell(conf, monkeypatch) -> None:
    """``${VAR}`` in a ``bash:`` body is the shell's even when the bash kind is registered only
    because this template names it: runwright must not substitute it from its own environment."""
    monkeypatch.setenv("GREETING", "from-runwright")
    settings = Settings.from_env()
    runtime = Runtime(get_plugin_manager(settings, stage_kinds_on_demand=True), settings)
    folder = conf(
        """
        greet:
          type: Workflow
          jobs:
            j:
              stages:
                - id: say
                  env: {GREETING: from-the-stage}
                  bash: 'echo "said=${GREETING}" >> "$RUNWRIGHT_OUTPUT"'
        """
    )
    result = Workflow.from_conf("greet", folder, runtime=runtime).execute({})
    assert result.status == Status.SUCCESS, result.errors
    assert result.context["jobs"]["j"]["stages"]["say"]["outputs"]["said"] == "from-the-stage"


def test_each_builtin_kind_module_registers_its_own_key_and_no_other_raw_text() -> None:
    """The rule on-demand registration rests on: a built-in module registers the one kind its
    key names, and a raw text field of a built-in kind is its own key."""
    from runwright.stages import BUILTIN_STAGE_MODULES

    for kind, module_name in BUILTIN_STAGE_MODULES.items():
        registered: list[type] = []
        module = __import__(module_name, fromlist=["register_stage_types"])
        module.register_stage_types(register=registered.append)
        assert [cls.kind for cls in registered] == [kind], module_name
        assert set(registered[0].raw_text_fields) <= {kind}, module_name


def test_a_kind_being_registered_by_one_thread_is_found_by_another(monkeypatch) -> None:
    """Two templates validated at once (the server's threads) may both need ``bash:`` first: the
    second waits for the first's registration instead of reporting an unknown stage kind."""
    import threading
    import time

    import runwright.runtime as runtime_module

    real_import = runtime_module.importlib.import_module
    importing = threading.Event()

    def slow_import(name: str):  # noqa: ANN202 - stands in for importlib.import_module
        if name == "runwright.stages.bash":
            importing.set()
            time.sleep(0.3)
        return real_import(name)

    monkeypatch.setattr(runtime_module.importlib, "import_module", slow_import)
    kinds = Runtime(get_plugin_manager(stage_kinds_on_demand=True)).stage_kinds
    loader = threading.Thread(target=lambda: kinds["bash"])
    loader.start()
    assert importing.wait(5)
    assert "bash" in kinds
    assert kinds["bash"].kind == "bash"
    loader.join(5)
