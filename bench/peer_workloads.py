"""Peer half of the runwright benchmark: the same workloads on ddeutil-workflow.

ddeutil-workflow (pinned to ``PEER_VERSION``) is installed once into a private
virtual environment at ``bench/.peer-venv`` and never imported into the calling
interpreter. Every sample runs in a fresh subprocess of that venv's Python,
which executes *this file* in ``--child`` mode: import ddeutil, load the
workflow with ``Workflow.from_conf`` from a YAML file written into a fresh
temporary directory, then time ``Workflow.execute`` alone.

Public API (used by ``bench/engine.py`` and the ``bench/peer_ddeutil.py`` CLI):

* ``WORKLOADS``          -- the workload specs, keyed by name.
* ``run_peer(names)``    -- run workloads, return ``{name: figures}``.
* ``format_table(res)``  -- render ``run_peer`` output as a text table.
* ``ensure_venv()``      -- create/reuse the cached peer venv, return its python.

Figures per workload (keys of each ``run_peer`` value):

``wall_s``        median wall time of ``execute()`` only (import and
                  ``from_conf`` excluded), seconds; ``None`` on error.
``peak_mb``       median of the per-sample growth of ``ru_maxrss`` across
                  ``execute()`` (peak RSS after minus peak RSS before, MiB).
                  This is the extra resident memory the run needed beyond
                  what import + ``from_conf`` had already touched; it is not
                  a tracemalloc figure (tracemalloc would slow the run).
``per_stage_us``  ``wall_s / stages`` in microseconds.
``stages``        number of stage executions the workload asks for.
``note``          free text: caveats, or why the workload failed.
``ok``            True only if every sample finished with ddeutil status
                  SUCCESS. A workload that could not run at all has
                  ``wall_s=None``; one that ran but ended FAILED (ddeutil
                  0.0.86 loses jobs to a race with max_job_parallel > 1)
                  keeps its figures, ``ok=False`` and a note saying why --
                  callers printing ratios should flag or skip those.

plus: ``samples`` (count), ``walls_s`` (every sample), ``status`` (ddeutil's
result status of the last sample), ``stages_seen`` (stage results counted in the result
context), ``rss_peak_mb`` (absolute peak RSS), ``import_s``, ``from_conf_s``,
``log_bytes`` (trace output captured from stderr), ``mem_method``, ``peer``.

This module only needs the standard library at import time, so it can be
imported from any interpreter; ddeutil is imported only inside the child.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

PEER_PACKAGE = "ddeutil-workflow"
PEER_VERSION = "0.0.86"
PEER_REQUIREMENT = f"{PEER_PACKAGE}=={PEER_VERSION}"

BENCH_DIR = Path(__file__).resolve().parent
VENV_DIR = BENCH_DIR / ".peer-venv"
_VENV_MARKER = ".runwright-peer-ok"

DEFAULT_SAMPLES = 3
MEM_METHOD = "ru_maxrss delta across execute() (MiB)"
WORKFLOW_NAME = "bench-wf"

# ddeutil rejects a strategy ``max-parallel`` >= 10 (job.py: "should not more
# than 10"), so 9 is the highest matrix concurrency it allows.
DDEUTIL_MAX_MATRIX_PARALLEL = 9


# --------------------------------------------------------------------------
# Workload definitions
# --------------------------------------------------------------------------


def _stage(lines: list[str], indent: str, sid: str) -> None:
    """Append one ddeutil empty stage (a stage with ``echo:``)."""
    lines.append(f"{indent}- id: {sid}")
    lines.append(f"{indent}  name: {sid}")
    lines.append(f"{indent}  echo: {sid}")


def _yaml_echo_1000() -> str:
    lines = [f"{WORKFLOW_NAME}:", "  type: Workflow", "  jobs:", "    only:", "      stages:"]
    for i in range(1000):
        _stage(lines, "        ", f"s{i:04d}")
    return "\n".join(lines) + "\n"


def _yaml_chain_50() -> str:
    lines = [f"{WORKFLOW_NAME}:", "  type: Workflow", "  jobs:"]
    for j in range(50):
        lines.append(f"    c{j:02d}:")
        if j:
            lines.append(f"      needs: [c{j - 1:02d}]")
        lines.append("      stages:")
        _stage(lines, "        ", f"c{j:02d}-s0")
    return "\n".join(lines) + "\n"


def _yaml_seq(stages: int) -> str:
    lines = [f"{WORKFLOW_NAME}:", "  type: Workflow", "  jobs:", "    only:", "      stages:"]
    for i in range(stages):
        _stage(lines, "        ", f"s{i:03d}")
    return "\n".join(lines) + "\n"


TEMPLATED_PARAMS = {"name": "bench", "run_date": "2024-01-01", "count": 3}


def _yaml_templated_100() -> str:
    """100 stages whose messages each render three param expressions (passed at execute)."""
    lines = [
        f"{WORKFLOW_NAME}:",
        "  type: Workflow",
        "  params:",
        "    name: str",
        "    run_date: str",
        "    count: int",
        "  jobs:",
        "    only:",
        "      stages:",
    ]
    for i in range(100):
        sid = f"t{i:03d}"
        lines += [
            f"        - id: {sid}",
            f"          name: {sid}",
            f'          echo: "${{{{ params.name }}}} {sid} on ${{{{ params.run_date }}}} x ${{{{ params.count }}}}"',
        ]
    return "\n".join(lines) + "\n"


def _yaml_matrix(a_size: int, b_size: int) -> str:
    a = ", ".join(str(i) for i in range(1, a_size + 1))
    b = ", ".join(str(i) for i in range(1, b_size + 1))
    lines = [
        f"{WORKFLOW_NAME}:",
        "  type: Workflow",
        "  jobs:",
        "    fan:",
        "      strategy:",
        f"        max-parallel: {DDEUTIL_MAX_MATRIX_PARALLEL}",
        "        matrix:",
        f"          a: [{a}]",
        f"          b: [{b}]",
        "      stages:",
        "        - id: m",
        "          name: m",
        '          echo: "${{ matrix.a }}-${{ matrix.b }}"',
    ]
    return "\n".join(lines) + "\n"


def _yaml_jobs(jobs: int, stages: int) -> str:
    lines = [f"{WORKFLOW_NAME}:", "  type: Workflow", "  jobs:"]
    for j in range(jobs):
        lines += [f"    j{j:03d}:", "      stages:"]
        for s in range(stages):
            _stage(lines, "        ", f"j{j:03d}-s{s}")
    return "\n".join(lines) + "\n"


CONF_FILES = 100
TEMPLATES_PER_FILE = 10


def _conf_1000() -> dict[str, str]:
    """1,000 small templates in 100 files; the one run (``WORKFLOW_NAME``) sits in the middle."""
    files: dict[str, str] = {}
    for f in range(CONF_FILES):
        lines: list[str] = []
        for t in range(TEMPLATES_PER_FILE):
            name = (
                WORKFLOW_NAME
                if (f, t) == (CONF_FILES // 2, TEMPLATES_PER_FILE // 2)
                else f"wf-{f:03d}-{t:02d}"
            )
            lines += [f"{name}:", "  type: Workflow", "  jobs:", "    first:", "      stages:"]
            for s in range(3):
                _stage(lines, "        ", f"{name}-s{s}")
            lines += ["    second:", "      needs: [first]", "      stages:"]
            _stage(lines, "        ", f"{name}-last")
        files[f"templates-{f:03d}.yml"] = "\n".join(lines) + "\n"
    return files


@dataclass(frozen=True)
class Workload:
    name: str
    description: str
    stages: int
    make_yaml: Callable[[], str]
    max_job_parallel: int = 2  # ddeutil's own default
    samples: int = DEFAULT_SAMPLES
    samples_reason: str = ""
    caveat: str = ""
    params: dict = field(default_factory=dict)
    """Passed to ``execute()`` by both systems (the peer applies no param defaults)."""
    make_conf: Callable[[], dict[str, str]] | None = None
    """The whole conf folder (file name -> YAML) when it holds more than this workload's file."""

    def conf_files(self) -> dict[str, str]:
        if self.make_conf is not None:
            return self.make_conf()
        return {f"{WORKFLOW_NAME}.yml": self.make_yaml()}


WORKLOADS: dict[str, Workload] = {
    w.name: w
    for w in (
        Workload(
            "echo-1000",
            "1 job x 1,000 echo stages",
            1000,
            _yaml_echo_1000,
        ),
        Workload(
            "jobs-200x5",
            "200 independent jobs x 5 echo stages, max_job_parallel=4",
            1000,
            lambda: _yaml_jobs(200, 5),
            max_job_parallel=4,
        ),
        Workload(
            "chain-50",
            "50 jobs, each needs the previous, 1 echo stage each, max_job_parallel=4",
            50,
            _yaml_chain_50,
            max_job_parallel=4,
            samples=1,
            samples_reason="ddeutil's needs-polling makes one run take minutes",
        ),
        Workload(
            "matrix-1000",
            f"1 job, matrix 10x100 = 1,000 combos x 1 echo stage, max-parallel={DDEUTIL_MAX_MATRIX_PARALLEL}",
            1000,
            lambda: _yaml_matrix(10, 100),
            caveat=f"max-parallel={DDEUTIL_MAX_MATRIX_PARALLEL} (ddeutil rejects >= 10)",
        ),
        Workload("seq-100", "1 job x 100 echo stages", 100, lambda: _yaml_seq(100)),
        Workload(
            "templated-100",
            "1 job x 100 echo stages, each rendering 3 param expressions",
            100,
            _yaml_templated_100,
            params=TEMPLATED_PARAMS,
        ),
        Workload(
            "matrix-100",
            f"1 job, matrix 10x10 = 100 combos x 1 echo stage, max-parallel={DDEUTIL_MAX_MATRIX_PARALLEL}",
            100,
            lambda: _yaml_matrix(10, 10),
        ),
        Workload(
            "jobs-20x5",
            "20 independent jobs x 5 echo stages, max_job_parallel=2",
            100,
            lambda: _yaml_jobs(20, 5),
        ),
        Workload(
            "conf-1000",
            f"run 1 template (2 jobs, 4 stages) out of a conf folder of "
            f"{CONF_FILES * TEMPLATES_PER_FILE:,} templates in {CONF_FILES} files",
            4,
            lambda: _conf_1000()[f"templates-{CONF_FILES // 2:03d}.yml"],
            make_conf=_conf_1000,
        ),
    )
}


# --------------------------------------------------------------------------
# Peer virtual environment
# --------------------------------------------------------------------------


def _venv_python(venv: Path = VENV_DIR) -> Path:
    if os.name == "nt":  # pragma: no cover
        return venv / "Scripts" / "python.exe"
    return venv / "bin" / "python"


def _log(msg: str) -> None:
    print(f"[peer] {msg}", file=sys.stderr, flush=True)


def ensure_venv(*, rebuild: bool = False, log: Callable[[str], None] = _log) -> Path:
    """Return the peer venv's python, creating the venv on first use.

    The venv is reused while its marker file names ``PEER_REQUIREMENT``; it is
    rebuilt from scratch otherwise. ``uv`` is used when on PATH, else
    ``python -m venv`` + pip. A ``.gitignore`` containing ``*`` is written
    inside so the venv never shows up in ``git status``.
    """
    py = _venv_python()
    marker = VENV_DIR / _VENV_MARKER
    if not rebuild and py.exists() and marker.exists() and marker.read_text().strip() == PEER_REQUIREMENT:
        return py

    if VENV_DIR.exists():
        shutil.rmtree(VENV_DIR)
    log(f"creating {VENV_DIR} with {PEER_REQUIREMENT} (one-off)...")
    t0 = time.perf_counter()
    uv = shutil.which("uv")
    if uv:
        subprocess.run(
            [uv, "venv", "--quiet", "--python", sys.executable, str(VENV_DIR)],
            check=True,
        )
        subprocess.run(
            [uv, "pip", "install", "--quiet", "--python", str(py), PEER_REQUIREMENT],
            check=True,
        )
    else:
        subprocess.run([sys.executable, "-m", "venv", str(VENV_DIR)], check=True)
        subprocess.run(
            [
                str(py),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                PEER_REQUIREMENT,
            ],
            check=True,
        )
    (VENV_DIR / ".gitignore").write_text("*\n")
    check = subprocess.run(
        [
            str(py),
            "-c",
            "from importlib.metadata import version; print(version('ddeutil-workflow'))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    got = check.stdout.strip()
    if got != PEER_VERSION:
        raise RuntimeError(f"peer venv has {PEER_PACKAGE} {got!r}, want {PEER_VERSION}")
    marker.write_text(PEER_REQUIREMENT + "\n")
    log(f"peer venv ready in {time.perf_counter() - t0:.1f}s")
    return py


# --------------------------------------------------------------------------
# Parent side: run samples and aggregate
# --------------------------------------------------------------------------


def _child_env(conf_dir: Path, trace: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("WORKFLOW_")
        and k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV")
    }
    env["WORKFLOW_CORE_CONF_PATH"] = str(conf_dir)
    env["WORKFLOW_LOG_AUDIT_ENABLE_WRITE"] = "false"  # also ddeutil's default
    if trace == "off":
        env["WORKFLOW_LOG_TRACE_HANDLERS"] = "[]"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _tail(path: Path, n: int = 4000) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - n))
            return fh.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _last_error_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for ln in reversed(lines):
        if "Error" in ln or "Exception" in ln:
            return ln[:300]
    return lines[-1][:300] if lines else "no output"


def _run_sample(py: Path, w: Workload, trace: str, timeout: float) -> dict:
    """One fresh subprocess: returns the child's JSON figures or {'error': ...}."""
    with tempfile.TemporaryDirectory(prefix=f"peer-{w.name}-") as tmp:
        tmpdir = Path(tmp)
        conf_dir = tmpdir / "conf"
        conf_dir.mkdir()
        for file_name, text in w.conf_files().items():
            (conf_dir / file_name).write_text(text)
        result_file = tmpdir / "result.json"
        stderr_file = tmpdir / "stderr.log"
        stdout_file = tmpdir / "stdout.log"
        cmd = [
            str(py),
            str(Path(__file__).resolve()),
            "--child",
            w.name,
            str(conf_dir),
            str(result_file),
        ]
        try:
            with stderr_file.open("wb") as err, stdout_file.open("wb") as out:
                proc = subprocess.run(
                    cmd,
                    cwd=tmpdir,  # any stray ./logs or ./audits land in the temp dir
                    env=_child_env(conf_dir, trace),
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    timeout=timeout,
                )
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {timeout:.0f}s"}
        log_bytes = stderr_file.stat().st_size + stdout_file.stat().st_size
        if proc.returncode != 0 or not result_file.exists():
            return {"error": f"child exit {proc.returncode}: " + _last_error_line(_tail(stderr_file))}
        data = json.loads(result_file.read_text())
        data["log_bytes"] = log_bytes
        return data


def run_peer(
    workloads: Iterable[str] | None = None,
    *,
    samples: int | None = None,
    trace: str = "default",
    timeout: float = 600.0,
    rebuild_venv: bool = False,
    progress: Callable[[str], None] | None = _log,
) -> dict[str, dict]:
    """Run ``workloads`` (default: all) on ddeutil-workflow; see module doc.

    ``samples`` overrides every workload's sample count (chain-50 defaults to
    1, the others to 3). ``trace="off"`` sets
    ``WORKFLOW_LOG_TRACE_HANDLERS='[]'``; the default keeps ddeutil's console
    tracing, whose output is captured to a temp file, never the terminal.
    A workload that cannot run (unknown name, venv or child crash, timeout)
    gets ``wall_s=None`` and a note; one that runs but ends with a ddeutil
    status other than SUCCESS keeps its figures with ``ok=False`` and a note.
    """
    names = list(workloads) if workloads is not None else list(WORKLOADS)
    say = progress or (lambda _m: None)
    results: dict[str, dict] = {}
    py: Path | None = None
    venv_error = ""
    try:
        py = ensure_venv(rebuild=rebuild_venv, log=say)
        compile_peer_venv(py)
    except Exception as exc:  # reported in every row
        venv_error = f"peer venv unavailable: {exc}"

    for name in names:
        w = WORKLOADS.get(name)
        row: dict = {
            "wall_s": None,
            "peak_mb": None,
            "per_stage_us": None,
            "stages": w.stages if w else None,
            "note": "",
            "ok": False,
            "samples": 0,
            "walls_s": [],
            "mem_method": MEM_METHOD,
            "peer": PEER_REQUIREMENT,
            "trace": trace,
        }
        results[name] = row
        if w is None:
            row["note"] = f"unknown workload (known: {', '.join(WORKLOADS)})"
            continue
        if py is None:
            row["note"] = venv_error
            continue

        n = samples if samples is not None else w.samples
        runs: list[dict] = []
        error = ""
        for i in range(n):
            say(f"{name}: sample {i + 1}/{n} ...")
            t0 = time.perf_counter()
            data = _run_sample(py, w, trace, timeout)
            if "error" in data:
                error = data["error"]
                say(f"{name}: {error}")
                break
            say(
                f"{name}: execute {data['wall_s']:.3f}s status {data['status']} "
                f"(subprocess {time.perf_counter() - t0:.1f}s)"
            )
            runs.append(data)

        if error:
            row["note"] = error
            continue

        walls = [r["wall_s"] for r in runs]
        wall = statistics.median(walls)
        row.update(
            wall_s=wall,
            peak_mb=statistics.median(r["peak_mb"] for r in runs),
            per_stage_us=wall / w.stages * 1e6,
            samples=len(runs),
            walls_s=walls,
            status=runs[-1]["status"],
            stages_seen=runs[-1]["stages_seen"],
            rss_peak_mb=statistics.median(r["rss_peak_mb"] for r in runs),
            import_s=statistics.median(r["import_s"] for r in runs),
            from_conf_s=statistics.median(r["from_conf_s"] for r in runs),
            log_bytes=int(statistics.median(r["log_bytes"] for r in runs)),
        )
        notes = []
        failed = [r for r in runs if r["status"] != "SUCCESS"]
        row["ok"] = not failed
        if failed:
            notes.append(_failure_note(failed, len(runs)))
        if w.caveat:
            notes.append(w.caveat)
        if n != DEFAULT_SAMPLES:
            why = f" ({w.samples_reason})" if samples is None and w.samples_reason else ""
            notes.append(f"{n} sample{'s' if n != 1 else ''}{why}")
        if not failed and row["stages_seen"] != w.stages:
            notes.append(f"only {row['stages_seen']} stage results in context")
        row["note"] = "; ".join(notes)
    return results


def _failure_note(failed: list[dict], total: int) -> str:
    """Explain non-SUCCESS samples: ddeutil finished but reported failure."""
    first = failed[0]
    parts = [f"ddeutil status {first['status']} in {len(failed)}/{total} samples"]
    lost = [r["jobs_expected"] - r["jobs_recorded"] for r in failed]
    if any(lost):
        parts.append(f"{'/'.join(map(str, lost))} of {first['jobs_expected']} jobs missing from result")
    merged: dict[str, int] = {}
    for r in failed:
        for k, v in r.get("job_errors", {}).items():
            merged[k] = merged.get(k, 0) + v
    if merged:
        parts.append(
            "job threads raised "
            + ", ".join(f"{v}x {k}" for k, v in sorted(merged.items(), key=lambda kv: -kv[1]))
        )
    elif first.get("ddeutil_errors"):
        parts.append(first["ddeutil_errors"])
    return "FAILED: " + "; ".join(parts) + " (figures kept, not comparable)"


def format_table(results: dict[str, dict], title: str | None = None) -> str:
    """Render ``run_peer`` output as a fixed-width text table."""
    head = ("workload", "stages", "wall s", "us/stage", "peak MiB", "n", "log KiB", "note")
    rows = []
    for name, r in results.items():
        if r.get("wall_s") is None:
            rows.append(
                (
                    name,
                    str(r.get("stages") or "-"),
                    "-",
                    "-",
                    "-",
                    "0",
                    "-",
                    f"ERROR: {r.get('note', '')}",
                )
            )
            continue
        rows.append(
            (
                name,
                str(r["stages"]),
                f"{r['wall_s']:.3f}",
                f"{r['per_stage_us']:,.0f}",
                f"{r['peak_mb']:.1f}",
                str(r["samples"]),
                f"{r.get('log_bytes', 0) / 1024:,.0f}",
                r.get("note", ""),
            )
        )
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(head)]
    widths[-1] = len(head[-1])  # free-text column is not padded

    def fmt(cells):
        out = []
        for i, (c, wd) in enumerate(zip(cells, widths, strict=True)):
            out.append(c.ljust(wd) if i in (0, len(cells) - 1) else c.rjust(wd))
        return "  ".join(out).rstrip()

    lines = []
    if title:
        lines.append(title)
    lines.append(fmt(head))
    lines.append(fmt(["-" * wd for wd in widths]))
    lines.extend(fmt(row) for row in rows)
    lines.append(
        "wall = median of execute() only (no import/from_conf); "
        f"peak = {MEM_METHOD}; us/stage = wall / stages"
    )
    return "\n".join(lines)


# --------------------------------------------------------------------------
# Fresh process: interpreter start + import + load + execute, timed outside
# --------------------------------------------------------------------------

PEER_FRESH_CODE = (
    "import json, sys\n"
    "from pathlib import Path\n"
    "from ddeutil.workflow import Workflow\n"
    "name, conf, params, parallel = sys.argv[1:5]\n"
    "workflow = Workflow.from_conf(name, extras={'conf_path': Path(conf)})\n"
    "result = workflow.execute(params=json.loads(params), max_job_parallel=int(parallel))\n"
    "print(getattr(result.status, 'name', result.status))\n"
)
"""What one fresh peer process does: the same three steps a user's script takes."""


def compile_bytecode(python: Path | str, paths: Iterable[Path | str]) -> None:
    """Write .pyc files for ``paths`` (``PYTHONDONTWRITEBYTECODE`` stops imports doing it)."""
    existing = [str(p) for p in paths if Path(p).exists()]
    if existing:
        subprocess.run(
            [str(python), "-m", "compileall", "-q", "-j2", *existing], check=False, stdout=subprocess.DEVNULL
        )


def compile_peer_venv(py: Path) -> None:
    compile_bytecode(py, [VENV_DIR / "lib"])


def time_fresh_processes(
    cmd: list[str], env: dict[str, str], cwd: Path, samples: int, timeout: float = 600.0
) -> dict:
    """Median wall of ``samples`` fresh processes after one warm-up; the last line of stdout is
    the run's status."""
    walls: list[float] = []
    status = ""
    for index in range(samples + 1):
        started = time.perf_counter()
        done = subprocess.run(
            cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
        wall = time.perf_counter() - started
        if done.returncode != 0:
            return {"wall_s": None, "note": f"exit {done.returncode}: " + _last_error_line(done.stderr)}
        lines = done.stdout.strip().splitlines()
        status = lines[-1].strip() if lines else ""
        if index:  # the first process warms the file cache (and any index a loader keeps)
            walls.append(wall)
    return {"wall_s": statistics.median(walls), "walls_s": walls, "status": status, "ok": status == "SUCCESS"}


def run_peer_fresh(names: Iterable[str], samples: int, timeout: float = 600.0) -> dict[str, dict]:
    """Fresh-process figures of the peer: import + ``from_conf`` + ``execute`` per process."""
    py = ensure_venv()
    compile_peer_venv(py)
    results: dict[str, dict] = {}
    for name in names:
        w = WORKLOADS[name]
        if w.samples < DEFAULT_SAMPLES:
            results[name] = {"wall_s": None, "note": w.samples_reason or "skipped"}
            continue
        with tempfile.TemporaryDirectory(prefix=f"peer-fresh-{name}-") as tmp:
            cmd, env = peer_fresh_command(py, name, Path(tmp))
            results[name] = time_fresh_processes(cmd, env, Path(tmp), samples, timeout)
    return results


def peer_fresh_command(py: Path | str, name: str, folder: Path) -> tuple[list[str], dict[str, str]]:
    """The peer's fresh-process command for ``name``, its conf written under ``folder``."""
    w = WORKLOADS[name]
    conf_dir = folder / "peer-conf"
    conf_dir.mkdir()
    for file_name, text in w.conf_files().items():
        (conf_dir / file_name).write_text(text)
    cmd = [
        str(py),
        "-c",
        PEER_FRESH_CODE,
        WORKFLOW_NAME,
        str(conf_dir),
        json.dumps(w.params),
        str(w.max_job_parallel),
    ]
    return cmd, _child_env(conf_dir, "default")


# --------------------------------------------------------------------------
# Child side: runs inside the peer venv, one workload, one sample
# --------------------------------------------------------------------------


def _count_stage_results(context: dict) -> int:
    """Count stage result entries in ddeutil's execute() result context."""
    total = 0
    for job_ctx in (context.get("jobs") or {}).values():
        if not isinstance(job_ctx, dict):
            continue
        total += len(job_ctx.get("stages") or {})
        for strat in (job_ctx.get("strategies") or {}).values():
            if isinstance(strat, dict):
                total += len(strat.get("stages") or {})
    return total


def _maxrss_mib() -> float:
    import resource

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def _child_main(name: str, conf_dir: str, result_file: str) -> int:
    w = WORKLOADS[name]
    # Keep bench/ (sys.path[0] when run as a script) out of ddeutil's imports.
    here = str(BENCH_DIR)
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]

    t0 = time.perf_counter()
    from ddeutil.workflow import Workflow  # only importable in the peer venv

    import_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    wf = Workflow.from_conf(WORKFLOW_NAME, extras={"conf_path": Path(conf_dir)})
    from_conf_s = time.perf_counter() - t0

    # Diagnostic only: ddeutil's Workflow.process() turns an exception raised
    # by a job thread into a bare FAILED status and records nothing about it,
    # so count those exceptions here. One extra Python call per job.
    import ddeutil.workflow.workflow as wf_mod

    job_errors: dict[str, int] = {}
    real_process_job = wf_mod.Workflow.process_job

    def process_job(self, *args, **kwargs):
        try:
            return real_process_job(self, *args, **kwargs)
        except Exception as exc:
            key = f"{type(exc).__name__}: {exc}"[:200]
            job_errors[key] = job_errors.get(key, 0) + 1
            raise

    wf_mod.Workflow.process_job = process_job

    rss_before = _maxrss_mib()
    t0 = time.perf_counter()
    result = wf.execute(params=dict(w.params), max_job_parallel=w.max_job_parallel)
    wall_s = time.perf_counter() - t0
    rss_after = _maxrss_mib()

    status = getattr(result.status, "name", str(result.status))
    context = result.context or {}
    errors = context.get("errors")
    out = {
        "workload": name,
        "status": status,
        "wall_s": wall_s,
        "peak_mb": max(0.0, rss_after - rss_before),
        "rss_peak_mb": rss_after,
        "import_s": import_s,
        "from_conf_s": from_conf_s,
        "jobs_expected": len(wf.jobs),
        "jobs_recorded": len(context.get("jobs") or {}),
        "stages_seen": _count_stage_results(context),
        "ddeutil_errors": json.dumps(errors, default=str)[:300] if errors else "",
        "job_errors": job_errors,
    }
    Path(result_file).write_text(json.dumps(out))
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        sys.exit(_child_main(*sys.argv[2:5]))
    print("this module is driven by bench/peer_ddeutil.py", file=sys.stderr)
    sys.exit(2)
