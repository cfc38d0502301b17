"""``run:`` with ``deps:``: Python code in its own virtual environment, made with uv and cached.

The environment for one (``deps``, ``python``) pair is built once under
``$RUNWRIGHT_VENV_DIR`` (default ``~/.cache/runwright/venvs``) with ``uv venv`` and
``uv pip install --link-mode copy --compile-bytecode`` (uv's own settings such as
``UV_INDEX_URL``/``UV_FIND_LINKS``/``UV_OFFLINE`` apply), then reused by every later run; a file
lock keeps two processes from building it at once.

``deps:`` holds requirement specifiers only (parsed with ``packaging``, in the template and again
after ``${{ }}`` is rendered): a uv option (``--index-url``, ``-r FILE``, ``-e PATH``), a local
path or a ``file:`` URL is refused unless ``RUNWRIGHT_DEPS_UNRESTRICTED=1``.

The environment is shared by every workflow with the same deps, so before each use it is checked
against the fingerprint taken when it was built (every file's path, size, mode, modification and
change times): a file a stage added or changed there (a ``.pth`` file, an edited module) makes the
next stage rebuild the environment instead of running what one workflow left for another. The
child runs with ``-B``, so importing writes no bytecode into it.

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
import stat
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from runwright.config import deps_unrestricted
from runwright.engine.context import StageContext
from runwright.engine.result import to_jsonable
from runwright.engine.stopping import run_stage_process, stopped_error
from runwright.errors import StageFailed
from runwright.hookspecs import hookimpl
from runwright.models.stage import Stage
from runwright.templating.engine import has_expression

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


ALLOWED_URL_SCHEMES = frozenset({"https", "git+https"})
"""Schemes a ``name @ URL`` requirement may use (``file:`` and plain paths are local files)."""
ARCHIVE_SUFFIXES = (".whl", ".zip", ".tar.gz", ".tgz", ".tar", ".tar.bz2", ".tar.xz")
UNRESTRICTED_HINT = (
    "write requirement specifiers such as 'pandas==2.2' or 'name @ https://...'; "
    "RUNWRIGHT_DEPS_UNRESTRICTED=1 lets uv options and local paths through"
)


def requirement_problem(entry: str) -> str | None:
    """Why ``entry`` may not be handed to uv, or None for a requirement specifier uv installs
    from an index or an https URL (never an option, a local path or a ``file:`` URL)."""
    from packaging.requirements import InvalidRequirement, Requirement

    text = entry.strip()
    if text.startswith("-"):
        return f"{entry!r} is a uv option, not a requirement ({UNRESTRICTED_HINT})"
    try:
        requirement = Requirement(text)
    except InvalidRequirement as exc:
        reason = str(exc).splitlines()[0]
        return f"{entry!r} is not a requirement specifier: {reason} ({UNRESTRICTED_HINT})"
    if requirement.name.lower().endswith(ARCHIVE_SUFFIXES):
        return f"{entry!r} names a local archive, not a project ({UNRESTRICTED_HINT})"
    if requirement.url is not None:
        scheme = urlsplit(requirement.url).scheme.lower()
        if scheme not in ALLOWED_URL_SCHEMES:
            shown = f"a {scheme}: URL" if scheme and scheme != "file" else "a local path"
            return f"{entry!r} points at {shown}, not https ({UNRESTRICTED_HINT})"
    return None


def deps_problem(deps: list[str], rendered: bool = True) -> str | None:
    """``deps[i]: why`` for the first entry uv may not get, or None (always None when
    ``RUNWRIGHT_DEPS_UNRESTRICTED`` is set). Before rendering, entries holding ``${{ }}`` wait."""
    if deps_unrestricted():
        return None
    for index, entry in enumerate(deps):
        if not rendered and has_expression(entry):
            continue
        problem = requirement_problem(entry)
        if problem:
            return f"deps[{index}]: {problem}"
    return None


def checked_requirements(deps: list[str]) -> list[str]:
    """Rendered ``deps`` as uv gets them: each one's normalised specifier (as written when
    ``RUNWRIGHT_DEPS_UNRESTRICTED`` is set); a StageFailed names an entry that is not one."""
    problem = deps_problem(deps)
    if problem:
        raise StageFailed(problem, error_name="VenvError")
    if deps_unrestricted():
        return deps
    from packaging.requirements import Requirement

    return [str(Requirement(entry.strip())) for entry in deps]


def environment_fingerprint(target: Path) -> str:
    """A digest of every entry under ``target``: path, type and mode, size, modification and
    change times, inode, link target. Writing, adding, removing or touching anything there
    changes it (a process cannot set a file's change time back). One ``lstat`` per entry,
    hashed once: about 1.7 s for a 33,000-entry environment on a loaded machine."""
    root = str(target)
    rows: list[tuple[Any, ...]] = []
    pending = [root]
    while pending:
        with os.scandir(pending.pop()) as entries:
            for entry in entries:
                info = entry.stat(follow_symlinks=False)
                link = os.readlink(entry.path) if stat.S_ISLNK(info.st_mode) else ""
                relative = entry.path[len(root) + 1 :]
                times = (info.st_mtime_ns, info.st_ctime_ns)
                rows.append((relative, info.st_mode, info.st_size, *times, info.st_ino, link))
                if stat.S_ISDIR(info.st_mode):
                    pending.append(entry.path)
    rows.sort()
    return hashlib.sha256(repr(rows).encode("utf-8", "surrogateescape")).hexdigest()


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
    deps: list[str] = Field(
        description=(
            "Requirement specifiers installed with uv (pkg==1.0, pkg[extra]>=2, name @ https://...); "
            "options and local paths only with RUNWRIGHT_DEPS_UNRESTRICTED=1."
        )
    )
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

    @field_validator("deps")
    @classmethod
    def _requirements_only(cls, deps: list[str]) -> list[str]:
        problem = deps_problem(deps, rendered=False)  # ${{ }} entries: checked once rendered
        if problem:
            raise ValueError(problem)
        return deps

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
        deps = checked_requirements([str(dep) for dep in ctx.render(self.deps)])
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
        # -B: importing writes no bytecode into the shared environment (it was compiled when built)
        command = [str(interpreter), "-I", "-B", "-u", str(runner_path), str(spec_path), str(result_path)]
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
        fingerprint = root / f"{target.name}.fingerprint"
        with locked(root / f"{target.name}.lock"):
            if (target / READY_MARKER).exists():
                expected = fingerprint.read_text(encoding="utf-8") if fingerprint.exists() else ""
                if expected and environment_fingerprint(target) == expected:
                    ctx.log(f"reusing python environment {target}", event="venv", created=False)
                    return interpreter
                ctx.log(
                    f"python environment {target} changed since it was built (a stage wrote into it): "
                    "rebuilding it",
                    event="venv",
                    changed=True,
                )
            shutil.rmtree(target, ignore_errors=True)  # a build that was interrupted, or changed
            uv = uv_command()
            ctx.log(f"building python environment {target} with {', '.join(deps) or 'no deps'}", event="venv")
            steps = [[*uv, "venv", "--quiet", "--python", self.python or sys.executable, str(target)]]
            if deps:
                steps.append(
                    # copies, not hard links into uv's cache: an edit in one environment must not
                    # reach uv's cache and, through it, every environment built later
                    [
                        *uv,
                        "pip",
                        "install",
                        "--quiet",
                        "--link-mode",
                        "copy",
                        "--compile-bytecode",
                        "--python",
                        str(interpreter),
                        *deps,
                    ]
                )
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
            fingerprint.write_text(environment_fingerprint(target), encoding="utf-8")
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
