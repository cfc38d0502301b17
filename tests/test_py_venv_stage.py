"""``run:`` with ``deps:``: code in an isolated, cached uv environment, built here from a wheel
written by the test (no network: ``UV_OFFLINE`` and ``UV_FIND_LINKS`` point uv at it)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sys
import zipfile
from pathlib import Path

import pytest
from runwright import Status

from tests.conftest import wait_for_file

PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"


def write_wheel(folder: Path, name: str = "tiny_greet", version: str = "1.0") -> Path:
    """A minimal pure-Python wheel: one module and its dist-info."""
    files = {
        f"{name}/__init__.py": f"VERSION = {version!r}\n\ndef greet(who):\n    return 'hello ' + who + ' from tiny'\n",
        f"{name}-{version}.dist-info/METADATA": (
            f"Metadata-Version: 2.1\nName: {name.replace('_', '-')}\nVersion: {version}\n"
        ),
        f"{name}-{version}.dist-info/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: runwright-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(text.encode())}")
    record_path = f"{name}-{version}.dist-info/RECORD"
    record.append(f"{record_path},,")
    files[record_path] = "\n".join(record) + "\n"
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return wheel


@pytest.fixture(scope="module")
def venv_home(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """One wheel folder and one environment cache shared by this module's tests."""
    base = tmp_path_factory.mktemp("venv")
    write_wheel(base / "wheels")
    return {
        "RUNWRIGHT_VENV_DIR": str(base / "venvs"),
        "UV_CACHE_DIR": str(base / "uv-cache"),  # a stage that edits a package cannot reach the user's
        "UV_FIND_LINKS": str(base / "wheels"),
        "UV_OFFLINE": "1",
        "UV_NO_INDEX": "1",
    }


@pytest.fixture
def venv_env(venv_home: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Path:
    for key, value in venv_home.items():
        monkeypatch.setenv(key, value)
    return Path(venv_home["RUNWRIGHT_VENV_DIR"])


def venv_events(result) -> list[dict]:
    events = [json.loads(line) for line in open(result.log_file, encoding="utf-8")]
    return [e for e in events if e.get("event") == "venv" and "created" in e]


def test_code_runs_in_its_own_cached_environment(workflow_from, venv_env) -> None:
    wf = workflow_from(f"""
    venv:
      type: Workflow
      params: {{who: str}}
      jobs:
        j:
          stages:
            - id: s
              deps: [tiny-greet==1.0]
              python: "{PYTHON}"
              vars: {{greeting_for: "${{{{ params.who }}}}"}}
              run: |
                import sys
                import tiny_greet
                try:
                    import runwright
                    sees_engine = True
                except ImportError:
                    sees_engine = False
                greeting = tiny_greet.greet(greeting_for)
                also = tiny_greet.greet(${{{{ params.who }}}})
                version = tiny_greet.VERSION
                interpreter = f"{{sys.version_info.major}}.{{sys.version_info.minor}}"
                shapes = {{"t": (1, 2)}}
                print("made", greeting)
                def helper():
                    return 1
                _private = 1
    """)
    hostile = "x'); import os; os._exit(3) #"
    first = wf.execute({"who": hostile})
    assert first.status is Status.SUCCESS, first.errors
    outputs = first.context["jobs"]["j"]["stages"]["s"]["outputs"]
    assert outputs == {
        "sees_engine": False,
        "greeting": f"hello {hostile} from tiny",
        "also": f"hello {hostile} from tiny",
        "version": "1.0",
        "interpreter": PYTHON,
        "shapes": {"t": [1, 2]},
    }
    log = open(first.log_file, encoding="utf-8").read()
    assert "made hello" in log
    assert [e["created"] for e in venv_events(first)] == [True]
    second = wf.execute({"who": "Ada"})
    assert second.context["jobs"]["j"]["stages"]["s"]["outputs"]["greeting"] == "hello Ada from tiny"
    assert [e["created"] for e in venv_events(second)] == [False]
    assert len([p for p in venv_env.iterdir() if p.is_dir()]) == 1


def test_a_failure_in_the_code_fails_the_stage_with_its_error(workflow_from, venv_env) -> None:
    result = workflow_from("""
    venv-raise:
      type: Workflow
      jobs:
        j:
          stages:
            - id: s
              deps: [tiny-greet==1.0]
              run: raise ValueError('Testing raise error inside PyStage!!!')
    """).execute()
    assert result.status is Status.FAILED
    error = result.context["jobs"]["j"]["stages"]["s"]["errors"][0]
    assert error["name"] == "ValueError"
    assert error["message"] == "Testing raise error inside PyStage!!!"


def test_a_dependency_that_cannot_be_installed_names_it(workflow_from, venv_env) -> None:
    result = workflow_from("""
    venv-missing:
      type: Workflow
      jobs:
        j:
          stages:
            - id: s
              deps: [no-such-package-runwright==9.9]
              run: x = 1
    """).execute()
    error = result.context["jobs"]["j"]["stages"]["s"]["errors"][0]
    assert error["name"] == "VenvError"
    assert "could not build the environment" in error["message"]
    assert "no-such-package-runwright" in error["message"]


def test_timeout_stops_the_child_interpreter(workflow_from, venv_env, tmp_path) -> None:
    pid_file = tmp_path / "pid"
    result = workflow_from(f"""
    venv-slow:
      type: Workflow
      jobs:
        j:
          stages:
            - id: warm
              deps: [tiny-greet==1.0]
              run: ready = True
            - id: s
              deps: [tiny-greet==1.0]
              timeout-minutes: 0.02
              run: |
                import os, time
                open({str(pid_file)!r}, "w").write(str(os.getpid()))
                time.sleep(60)
    """).execute()
    record = result.context["jobs"]["j"]["stages"]["s"]
    assert record["status"] == "FAILED"
    assert record["errors"][0]["name"] == "Timeout"
    assert not _alive(int(pid_file.read_text()))


def test_cancel_stops_the_child_interpreter(workflow_from, venv_env, tmp_path) -> None:
    pid_file = tmp_path / "pid"
    wf = workflow_from(f"""
    venv-cancel:
      type: Workflow
      jobs:
        j:
          stages:
            - id: s
              deps: [tiny-greet==1.0]
              run: |
                import os, time
                open({str(pid_file)!r}, "w").write(str(os.getpid()))
                time.sleep(60)
    """)
    handle = wf.start()
    assert wait_for_file(pid_file, timeout=60)
    handle.cancel("stop it")
    result = handle.result(timeout=30)
    assert result.status is Status.CANCEL
    assert result.context["jobs"]["j"]["stages"]["s"]["status"] == "CANCEL"
    assert not _alive(int(pid_file.read_text()))


def test_secrets_printed_or_returned_are_masked(workflow_from, venv_env, monkeypatch) -> None:
    monkeypatch.setenv("MY_API_TOKEN", "tok-987-secret")
    result = workflow_from("""
    venv-secret:
      type: Workflow
      jobs:
        j:
          stages:
            - id: s
              deps: [tiny-greet==1.0]
              run: |
                token = "${MY_API_TOKEN}"
                print("token is", token)
    """).execute()
    assert result.context["jobs"]["j"]["stages"]["s"]["outputs"]["token"] == "tok-987-secret"
    assert "tok-987-secret" not in result.to_json()
    log = open(result.log_file, encoding="utf-8").read()
    assert "tok-987-secret" not in log and "token is ***" in log


def test_run_without_deps_is_still_the_in_process_stage(workflow_from) -> None:
    wf = workflow_from("""
    plain:
      type: Workflow
      jobs: {j: {stages: [{id: s, run: "x = 1"}]}}
    """)
    assert type(wf.jobs["j"].stage_list[0]).__name__ == "PyStage"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie child of ours would still answer: check its state
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return False
    return state != "Z"


def test_the_peers_version_key_names_the_runwright_one(conf, runtime) -> None:
    from runwright import Workflow
    from runwright.errors import TemplateError

    folder = conf("""
    peer-venv:
      type: Workflow
      jobs: {j: {stages: [{id: s, version: "3.11", deps: [pandas], run: "x = 1"}]}}
    """)
    with pytest.raises(TemplateError) as caught:
        Workflow.from_conf("peer-venv", folder, runtime=runtime)
    assert "write the interpreter as 'python: \"3.11\"'" in str(caught.value)


# -- deps: only requirement specifiers reach uv (issue 22) ----------------------------------

REFUSED_DEPS = [
    ["--index-url", "http://127.0.0.1:9/simple"],
    ["--index-url=http://127.0.0.1:9/simple"],
    ["-i", "http://127.0.0.1:9/simple"],
    ["--extra-index-url", "http://127.0.0.1:9/simple"],
    ["--find-links", "/tmp"],
    ["-r", "/etc/passwd"],
    ["-rrequirements.txt"],
    ["-e", "."],
    ["./local-project"],
    ["/abs/path/tiny_greet-1.0-py3-none-any.whl"],
    ["../up.whl"],
    ["tiny-greet @ file:///tmp/tiny"],
    ["tiny-greet==1.0 --index-url http://127.0.0.1:9/"],
    ["tiny-greet==1.0\n--index-url=http://127.0.0.1:9/"],
]


@pytest.mark.parametrize("deps", REFUSED_DEPS, ids=lambda deps: " ".join(deps)[:40])
def test_options_and_local_paths_in_deps_are_refused_when_loading(conf, runtime, deps) -> None:
    from runwright import Workflow
    from runwright.errors import TemplateError

    folder = conf(f"""
    venv-option:
      type: Workflow
      jobs: {{j: {{stages: [{{id: s, deps: {json.dumps(deps)}, run: "x = 1"}}]}}}}
    """)
    with pytest.raises(TemplateError) as caught:
        Workflow.from_conf("venv-option", folder, runtime=runtime)
    message = str(caught.value)
    assert "deps" in message and "RUNWRIGHT_DEPS_UNRESTRICTED" in message, message
    assert "not a requirement" in message or "option" in message or "local" in message, message


@pytest.mark.parametrize(
    "value",
    ["--index-url=http://127.0.0.1:9/simple", "-r/etc/passwd", "./local-project", "x @ file:///tmp/x"],
)
def test_an_option_rendered_from_a_param_never_reaches_uv(workflow_from, venv_env, value) -> None:
    wf = workflow_from("""
    venv-param-dep:
      type: Workflow
      params: {dep: str}
      jobs:
        j:
          stages:
            - id: s
              deps: ["tiny-greet==1.0", "${{ params.dep }}"]
              run: x = 1
    """)
    before = set(venv_env.iterdir()) if venv_env.exists() else set()
    result = wf.execute({"dep": value})
    assert result.status is Status.FAILED
    error = result.context["jobs"]["j"]["stages"]["s"]["errors"][0]
    assert error["name"] == "VenvError"
    assert repr(value) in error["message"] and "RUNWRIGHT_DEPS_UNRESTRICTED" in error["message"]
    assert (set(venv_env.iterdir()) if venv_env.exists() else set()) == before  # uv never ran


def installed_version(workflow_from, deps: list[str]) -> dict:
    """The outputs of a stage importing tiny_greet from an environment built from ``deps``."""
    result = workflow_from(f"""
    venv-version:
      type: Workflow
      jobs:
        j:
          stages:
            - id: s
              deps: {json.dumps(deps)}
              run: |
                import tiny_greet
                version = tiny_greet.VERSION
    """).execute()
    assert result.status is Status.SUCCESS, result.errors
    return result.context["jobs"]["j"]["stages"]["s"]["outputs"]


@pytest.mark.parametrize(
    "deps",
    [
        ["tiny-greet==1.0"],
        ["tiny_greet>=0.5,<2; python_version >= '3'"],
        ["Tiny.Greet ~= 1.0"],
    ],
)
def test_requirement_specifiers_are_accepted(workflow_from, venv_env, deps) -> None:
    assert installed_version(workflow_from, deps) == {"version": "1.0"}


def test_the_setting_lets_a_local_wheel_through(workflow_from, venv_env, venv_home, monkeypatch) -> None:
    wheel = Path(venv_home["UV_FIND_LINKS"]) / "tiny_greet-1.0-py3-none-any.whl"
    monkeypatch.setenv("RUNWRIGHT_DEPS_UNRESTRICTED", "1")
    assert installed_version(workflow_from, [str(wheel)]) == {"version": "1.0"}


# -- the shared environment cannot carry one workflow's changes into another ----------------

TAMPER = """
venv-a:
  type: Workflow
  jobs:
    j:
      stages:
        - id: s
          deps: [tiny-greet==1.0]
          run: |
            import os, site, tiny_greet
            packages = site.getsitepackages()[0]
            with open(os.path.join(packages, "zz-planted.pth"), "w") as handle:
                handle.write("import os; open(%r, 'w').write('ran')\\n")
            with open(tiny_greet.__file__, "a") as handle:
                handle.write("\\ndef greet(who):\\n    return 'pwned ' + who\\n")
            planted = True
venv-b:
  type: Workflow
  jobs:
    j:
      stages:
        - id: s
          deps: [tiny-greet==1.0]
          run: |
            import tiny_greet
            greeting = tiny_greet.greet("b")
"""


def test_a_change_one_workflow_makes_to_the_environment_never_reaches_another(
    conf, runtime, venv_env, tmp_path
) -> None:
    from runwright import Workflow

    mark = tmp_path / "pth-ran"
    folder = conf(TAMPER % str(mark))
    first = Workflow.from_conf("venv-a", folder, runtime=runtime).execute()
    assert first.status is Status.SUCCESS, first.errors
    second = Workflow.from_conf("venv-b", folder, runtime=runtime).execute()
    assert second.status is Status.SUCCESS, second.errors
    assert second.context["jobs"]["j"]["stages"]["s"]["outputs"] == {"greeting": "hello b from tiny"}
    assert not mark.exists(), "workflow A's .pth file ran in workflow B"
    events = venv_events(second)
    assert [e["created"] for e in events] == [True]
    log = open(second.log_file, encoding="utf-8").read()
    assert "changed since it was built" in log
    # and the rebuilt environment is reused as it is by the next run
    third = Workflow.from_conf("venv-b", folder, runtime=runtime).execute()
    assert [e["created"] for e in venv_events(third)] == [False]
