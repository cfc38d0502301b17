"""Engine benchmark: execute-only and fresh-process wall time, memory, per-stage overhead.

    uv run python bench/engine.py            # runwright only
    uv run python bench/engine.py --peer     # and ddeutil-workflow 0.0.86, side by side

Workloads (the same YAML for both systems, from bench/peer_workloads.py): echo-1000,
jobs-200x5, chain-50, matrix-1000, seq-100, templated-100, matrix-100, jobs-20x5 and conf-1000
(1 template out of a conf folder of 1,000 templates in 100 files). Trace logging is on.

- execute: the wall time of ``execute()`` alone, in a fresh subprocess per sample (median),
  with runwright's engine modules imported before the clock starts (the peer imports all of
  its modules with ``Workflow``; runwright imports its engine on the first run). Peak memory is the growth of ru_maxrss across execute(). Per-stage overhead is execute /
  stages of echo-1000; a dependency hop is chain-50 / 50.
- fresh: the wall time of a whole new process (interpreter start + import + load + execute),
  timed from outside, median of --fresh-samples after one warm-up. Both systems' bytecode is
  compiled first (``compileall``), as an installed package would be.

The table is markdown, ready to paste into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from peer_workloads import (  # noqa: E402
    WORKFLOW_NAME,
    WORKLOADS,
    compile_bytecode,
    compile_peer_venv,
    ensure_venv,
    peer_fresh_command,
    run_peer,
    run_peer_fresh,
    time_fresh_processes,
)

# runwright takes a wider matrix than the peer allows; the same 1,000 strategies either way.
MATRIX_PARALLEL = 4
WIDER_MATRIX = {"matrix-1000"}

ROOT = BENCH.parent
FRESH_CODE = (
    "import json, sys\n"
    "from runwright import Workflow\n"
    "name, conf, params, parallel = sys.argv[1:5]\n"
    "result = Workflow.from_conf(name, conf).execute(json.loads(params), max_job_parallel=int(parallel))\n"
    "print(result.status.value)\n"
)
"""What one fresh runwright process does: the same three steps a user's script takes."""


def _maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(name: str, conf_dir: str) -> None:
    """Run one sample in this process and print its figures as JSON."""
    # the engine's modules are imported before the clock, as the peer's are by its ``import``:
    # their first-run import is in the fresh column
    import runwright.engine.runner  # noqa: F401
    from runwright import Workflow

    workload = WORKLOADS[name]
    workflow = Workflow.from_conf(WORKFLOW_NAME, conf_dir)
    before = _maxrss_mib()
    started = time.perf_counter()
    result = workflow.execute(dict(workload.params), max_job_parallel=workload.max_job_parallel)
    wall = time.perf_counter() - started
    print(
        json.dumps(
            {
                "wall_s": wall,
                "peak_mb": _maxrss_mib() - before,
                "rss_mb": _maxrss_mib(),
                "status": result.status.value,
                "log_bytes": Path(result.log_file).stat().st_size if result.log_file else 0,
            }
        )
    )


def write_conf(name: str, conf: Path) -> None:
    conf.mkdir()
    for file_name, text in WORKLOADS[name].conf_files().items():
        if name in WIDER_MATRIX:
            text = text.replace("max-parallel: 9", f"max-parallel: {MATRIX_PARALLEL}")
        (conf / file_name).write_text(text)


def compile_ours() -> None:
    """Bytecode for the venv and the workspace sources, as an installed package has."""
    compile_bytecode(
        sys.executable,
        [Path(sys.prefix) / "lib", ROOT / "core" / "src", *ROOT.glob("plugins/*/src"), ROOT / "contrib"],
    )


def run_ours_fresh(names: list[str], samples: int) -> dict[str, dict]:
    results: dict[str, dict] = {}
    for name in names:
        with tempfile.TemporaryDirectory(prefix="rw-fresh-") as tmp:
            cmd, env = ours_fresh_command(name, Path(tmp))
            results[name] = time_fresh_processes(cmd, env, Path(tmp), samples)
    return results


def ours_fresh_command(name: str, folder: Path) -> tuple[list[str], dict[str, str]]:
    """runwright's fresh-process command for ``name``, its conf written under ``folder``."""
    workload = WORKLOADS[name]
    conf = folder / "conf"
    write_conf(name, conf)
    env = {**os.environ, "RUNWRIGHT_LOG_PATH": str(folder / "logs")}
    cmd = [sys.executable, "-c", FRESH_CODE, WORKFLOW_NAME, str(conf), json.dumps(workload.params)]
    return [*cmd, str(workload.max_job_parallel)], env


def run_paired_fresh(names: list[str], pairs: int) -> dict[str, dict]:
    """Fresh processes of runwright and the peer in turn (A B A B ...), after one warm-up each:
    the ratio is taken pair by pair, so a machine whose speed drifts still compares like with
    like. Returns each system's median wall and the median of the per-pair ratios."""
    py = ensure_venv()
    compile_peer_venv(py)
    results: dict[str, dict] = {}
    for name in names:
        with tempfile.TemporaryDirectory(prefix="rw-paired-") as tmp:
            folder = Path(tmp)
            ours_cmd, ours_env = ours_fresh_command(name, folder)
            peer_cmd, peer_env = peer_fresh_command(py, name, folder)
            ours_walls: list[float] = []
            peer_walls: list[float] = []
            for index in range(pairs + 1):
                ours_wall = _one_process(ours_cmd, ours_env, folder)
                peer_wall = _one_process(peer_cmd, peer_env, folder)
                if index:  # the first pair warms the file cache
                    ours_walls.append(ours_wall)
                    peer_walls.append(peer_wall)
        results[name] = {
            "ours_s": statistics.median(ours_walls),
            "peer_s": statistics.median(peer_walls),
            "ratio": statistics.median(p / o for p, o in zip(peer_walls, ours_walls, strict=True)),
            "ratio_range": (
                min(p / o for p, o in zip(peer_walls, ours_walls, strict=True)),
                max(p / o for p, o in zip(peer_walls, ours_walls, strict=True)),
            ),
        }
    return results


def _one_process(cmd: list[str], env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL
    )
    wall = time.perf_counter() - started
    if done.returncode != 0 or done.stdout.strip().splitlines()[-1:] != ["SUCCESS"]:
        raise SystemExit(f"{cmd[0]} failed: {done.stdout[-300:]} {done.stderr[-300:]}")
    return wall


def run_ours(names: list[str], samples: int) -> dict[str, dict]:
    results: dict[str, dict] = {}
    for name in names:
        workload = WORKLOADS[name]
        with tempfile.TemporaryDirectory(prefix="rw-bench-") as tmp:
            conf = Path(tmp) / "conf"
            write_conf(name, conf)
            env = {**os.environ, "RUNWRIGHT_LOG_PATH": str(Path(tmp) / "logs")}
            runs = []
            for _ in range(samples):
                done = subprocess.run(
                    [sys.executable, __file__, "--child", name, str(conf)],
                    capture_output=True,
                    text=True,
                    env=env,
                    timeout=600,
                    check=True,
                )
                runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
        wall = statistics.median(r["wall_s"] for r in runs)
        results[name] = {
            "wall_s": wall,
            "peak_mb": statistics.median(r["peak_mb"] for r in runs),
            "rss_mb": statistics.median(r["rss_mb"] for r in runs),
            "per_stage_us": wall / workload.stages * 1e6,
            "stages": workload.stages,
            "ok": all(r["status"] == "SUCCESS" for r in runs),
            "log_kib": runs[-1]["log_bytes"] / 1024,
        }
    return results


def _ms(seconds: float | None) -> str:
    return f"{seconds * 1000:,.1f}" if seconds else "—"


def _ratio(theirs: dict, ours: float | None) -> str:
    if not theirs.get("wall_s") or not ours:
        return "—"
    flag = "" if theirs.get("ok", True) else " (peer FAILED)"
    return f"{theirs['wall_s'] / ours:,.1f}x{flag}"


def table(
    ours: dict[str, dict],
    peer: dict[str, dict] | None,
    fresh: dict[str, dict] | None = None,
    peer_fresh: dict[str, dict] | None = None,
) -> str:
    """A markdown table: execute-only and fresh-process medians, side by side with the peer."""
    head = ["workload", "stages", "execute ms", "µs/stage", "peak MiB", "RSS MiB", "trace KiB"]
    if peer is not None:
        head += ["peer execute ms", "execute ratio"]
    if fresh is not None:
        head += ["fresh ms"]
        if peer_fresh is not None:
            head += ["peer fresh ms", "fresh ratio"]
    lines = [
        "| " + " | ".join(head) + " |",
        "|" + "|".join("---" if i == 0 else "--:" for i in range(len(head))) + "|",
    ]
    for name, r in ours.items():
        cells = [
            name,
            str(r["stages"]),
            _ms(r["wall_s"]),
            f"{r['per_stage_us']:.0f}",
            f"{r['peak_mb']:.1f}",
            f"{r['rss_mb']:.0f}",
            f"{r['log_kib']:.0f}",
        ]
        if not r["ok"]:
            cells[2] += " (FAILED)"
        if peer is not None:
            p = peer.get(name, {})
            cells += [_ms(p.get("wall_s")), _ratio(p, r["wall_s"])]
        if fresh is not None:
            f = fresh.get(name, {})
            cells.append(_ms(f.get("wall_s")) + ("" if f.get("ok", True) else " (FAILED)"))
            if peer_fresh is not None:
                pf = peer_fresh.get(name, {})
                cells += [_ms(pf.get("wall_s")), _ratio(pf, f.get("wall_s"))]
        lines.append("| " + " | ".join(cells) + " |")
    notes = []
    if "echo-1000" in ours:
        notes.append(f"per-stage overhead (echo-1000): {ours['echo-1000']['per_stage_us']:.0f} µs")
    if "chain-50" in ours:
        notes.append(f"dependency hop (chain-50 / 50): {ours['chain-50']['wall_s'] / 50 * 1000:.2f} ms")
    if peer is not None:
        notes += [f"peer {name}: {p['note']}" for name, p in peer.items() if p.get("note")]
    if peer_fresh is not None:
        notes += [f"peer fresh {name}: {p['note']}" for name, p in peer_fresh.items() if p.get("note")]
    if notes:
        lines += [""] + [f"- {note}" for note in notes]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer", action="store_true", help="also run ddeutil-workflow 0.0.86")
    parser.add_argument("--samples", type=int, default=3, help="execute-only samples per workload")
    parser.add_argument("--fresh-samples", type=int, default=7, help="fresh processes per workload; 0: none")
    parser.add_argument("--no-compile", action="store_true", help="do not compile bytecode first")
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument(
        "--paired-fresh",
        type=int,
        default=0,
        metavar="N",
        help="only: N pairs of fresh processes, runwright and the peer in turn; per-pair ratios",
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    names = [n for n in args.workloads.split(",") if n]
    unknown = [n for n in names if n not in WORKLOADS]
    if unknown:
        parser.error(f"unknown workload(s) {', '.join(unknown)}; known: {', '.join(WORKLOADS)}")
    if not args.no_compile:
        compile_ours()
    if args.paired_fresh:
        paired = run_paired_fresh(names, args.paired_fresh)
        print(f"fresh processes, runwright and the peer in turn, {args.paired_fresh} pairs; medians\n")
        print("| workload | fresh ms | peer fresh ms | fresh ratio (per pair: median, range) |")
        print("|---|--:|--:|--:|")
        for name, row in paired.items():
            low, high = row["ratio_range"]
            print(
                f"| {name} | {_ms(row['ours_s'])} | {_ms(row['peer_s'])} | "
                f"{row['ratio']:.2f}x ({low:.2f}-{high:.2f}) |"
            )
        return
    ours = run_ours(names, args.samples)
    peer = run_peer(names, progress=None) if args.peer else None
    fresh = peer_fresh = None
    if args.fresh_samples > 0:
        fresh = run_ours_fresh(names, args.fresh_samples)
        if args.peer:
            peer_fresh = run_peer_fresh(names, args.fresh_samples)
    if args.json:
        print(
            json.dumps({"runwright": ours, "peer": peer, "fresh": fresh, "peer_fresh": peer_fresh}, indent=2)
        )
    else:
        print(
            f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; execute: median of {args.samples} "
            f"samples; fresh: median of {args.fresh_samples} processes\n"
        )
        print(table(ours, peer, fresh, peer_fresh))


if __name__ == "__main__":
    main()
