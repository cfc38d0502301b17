"""``run:`` with ``deps:``: Python code in its own virtual environment, made with uv and cached.

The environment for one (``deps``, ``python``) pair is built once under
``$RUNWRIGHT_VENV_DIR`` (default ``~/.cache/runwright/venvs``) with ``uv venv`` and
``uv pip install`` (uv's own settings such as ``UV_INDEX_URL``/``UV_FIND_LINKS``/``UV_OFFLINE``
apply), then reused by every later run; a file lock keeps two processes from building it at once.

The code runs in a child interpreter (``python -I``: no user site, no PYTHONPATH, not the
engine's packages) with the same rules as the in-process ``run:`` stage: ``${{ }}`` values and
``vars:`` are bound as variables (data, never code), the names the code binds become the outputs
(modules, functions, classes and ``_``-names excepted), ``print`` goes to the trace, and
timeout/cancel stop the whole process group. Values cross the process boundary as JSON: dates
arrive as ISO strings, and outputs that JSON cannot hold are stored as their ``str()``.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import json
import os
import shutil
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator

from runwright.engine.context import StageContext
from runwright.engine.result import to_jsonable
from runwright.engine.stopping import run_stage_process, stopped_error
from runwright.errors import StageFailed
from runwright.hookspecs import hookimpl
from runwright.models.stage import Stage

READY_MARKER = ".runwright-ready"

CHILD_RUNNER = r"""
import builtins, inspect, json, sys

with open(sys.argv[1], encoding="utf-8") as handle:
    spec = json.load(handle)
namespace = {"__builtins__": builtins, "__name__": spec["module"]}
namespace.update(spec["values"])
given = dict(namespace)
try:
    exec(compile(spec["code"], spec["filename"], "exec"), namespace)
except BaseException as exc:
    result = {"error": {"name": type(exc).__name__, "message": str(exc)}}
else:
    def keep(name, value):
        if name.startswith("_") or inspect.ismodule(value) or inspect.isclass(value) or callable(value):
            return False
        return name not in given or given[name] is not value

    def plain(value):
        if hasattr(value, "isoformat"):
            return value.isoformat()
        if isinstance(value, (set, frozenset, tuple)):
            return list(value)
        return str(value)

    outputs = {name: value for name, value in namespace.items() if keep(name, value)}
    result = {"outputs": json.loads(json.dumps(outputs, default=plain))}
with open(sys.argv[2], "w", encoding="utf-8") as handle:
    json.dump(result, handle)
"""


def venv_root() -> Path:
    """Where cached environments live: ``$RUNWRIGHT_VENV_DIR`` or ``~/.cache/runwright/venvs``."""
    configured = os.environ.get("RUNWRIGHT_VENV_DIR")
    if configured:
        return Path(configured)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "runwright" / "venvs"


def uv_command() -> list[str]:
    """The uv executable (on PATH, or the ``uv`` Python package); an error says how to get it."""
    found = shutil.which("uv")
    if found:
        return [found]
    if importlib.util.find_spec("uv") is not None:
        return [sys.executable, "-m", "uv"]
    raise StageFailed(
        "a 'run:' stage with 'deps:' needs uv to build its environment: install it "
        "(pip install uv, or see https://docs.astral.sh/uv/)",
        error_name="VenvError",
    )


def environment_key(deps: list[str], python: str | None) -> str:
    text = json.dumps({"deps": sorted(deps), "python": python or "engine"}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@contextmanager
def locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class VenvPyStage(Stage):
    kind = "deps"
    companion_kinds = frozenset({"run"})

    run_: str = Field(alias="run", description="Python source run in the stage's own environment.")
    deps: list[str] = Field(description="Requirements installed with uv (pkg==1.0, a path, a URL).")
    python: str | None = Field(
        None, description='The interpreter version uv should use ("3.11"); default: the engine\'s.'
    )
    vars: dict[str, Any] = Field(default_factory=dict, description="Names bound before running.")

    @model_validator(mode="before")
    @classmethod
    def _peer_version_key(cls, data: Any) -> Any:
        if isinstance(data, dict) and "version" in data:
            raise ValueError(
                "write the interpreter as 'python: \"3.11\"' ('version:' is ddeutil-workflow's "
                "spelling, which it never passed to uv)"
            )
        return data

    @field_validator("python", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int | float) else value

    def static_outputs(self, runtime: Any) -> frozenset[str] | None:
        from runwright.stages.py import bound_names

        return bound_names(self.run_)

    def run(self, ctx: StageContext) -> dict[str, Any]:
        code, values = ctx.runtime.expressions.render_as_variables(
            self.run_, ctx.variables, lambda name: name
        )
        bound = {**ctx.render(self.vars), **values}
        deps = [str(dep) for dep in ctx.render(self.deps)]
        interpreter = self._environment(ctx, deps)
        workdir = ctx.tmp_dir() / f"venv-stage-{self.identity}-{os.getpid()}-{threading.get_ident()}"
        workdir.mkdir(parents=True, exist_ok=True)
        spec_path, result_path, runner_path = (workdir / n for n in ("spec.json", "result.json", "runner.py"))
        runner_path.write_text(CHILD_RUNNER, encoding="utf-8")
        spec = {
            "code": code,
            "filename": f"<stage {self.identity}>",
            "module": f"runwright_stage_{self.identity.replace('-', '_')}",
            "values": to_jsonable(bound),
        }
        spec_path.write_text(json.dumps(spec), encoding="utf-8")
        command = [str(interpreter), "-I", "-u", str(runner_path), str(spec_path), str(result_path)]
        returncode, _, stderr = self._run_process(ctx, command, workdir, echo=True)
        if not result_path.exists():
            tail = stderr[-500:]
            raise StageFailed(
                f"the stage's interpreter exited with code {returncode}" + (f": {tail}" if tail else ""),
                error_name="VenvError",
            )
        result = json.loads(result_path.read_text(encoding="utf-8"))
        if "error" in result:
            raise StageFailed(result["error"]["message"], error_name=result["error"]["name"])
        return result["outputs"]

    def _environment(self, ctx: StageContext, deps: list[str]) -> Path:
        """The cached environment's interpreter, building it first when needed."""
        root = venv_root()
        target = root / environment_key(deps, self.python)
        interpreter = target / "bin" / "python"
        with locked(root / f"{target.name}.lock"):
            if (target / READY_MARKER).exists():
                ctx.log(f"reusing python environment {target}", event="venv", created=False)
                return interpreter
            shutil.rmtree(target, ignore_errors=True)  # a build that was interrupted
            uv = uv_command()
            ctx.log(f"building python environment {target} with {', '.join(deps) or 'no deps'}", event="venv")
            steps = [[*uv, "venv", "--quiet", "--python", self.python or sys.executable, str(target)]]
            if deps:
                steps.append([*uv, "pip", "install", "--quiet", "--python", str(interpreter), *deps])
            for step in steps:
                code, _, stderr = self._run_process(ctx, step, root, echo=False)
                if code != 0:
                    shutil.rmtree(target, ignore_errors=True)
                    raise StageFailed(
                        f"could not build the environment ({' '.join(step[len(uv) : len(uv) + 2])}): "
                        f"{stderr.strip()[-800:]}",
                        error_name="VenvError",
                    )
            (target / READY_MARKER).write_text(json.dumps({"deps": deps, "python": self.python}))
            ctx.log(f"built python environment {target}", event="venv", created=True)
        return interpreter

    def _run_process(
        self, ctx: StageContext, command: list[str], cwd: Path, echo: bool
    ) -> tuple[int, str, str]:
        """Run a child of this stage (see :func:`run_stage_process`); raise if it was stopped."""
        env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"}}
        ran = run_stage_process(command, ctx, cwd=cwd, env=env, echo=echo)
        if ran.stopped:
            raise stopped_error(ctx, self.identity)
        return ran.returncode, ran.stdout, ran.stderr


@hookimpl
def register_stage_types(register: Callable[[type], None]) -> None:
    register(VenvPyStage)
