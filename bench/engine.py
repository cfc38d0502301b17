"""Engine benchmark: wall time, peak memory and per-stage overhead, trace logging on.

    uv run python bench/engine.py            # runwright only
    uv run python bench/engine.py --peer     # and ddeutil-workflow 0.0.86, side by side

Workloads (the same YAML for both systems, from bench/peer_workloads.py):
echo-1000, jobs-200x5, chain-50, matrix-1000. Each sample runs in a fresh subprocess; the
figure is the median of the samples. Peak memory is the growth of ru_maxrss across execute().
Per-stage overhead is wall time / stages of echo-1000; a dependency hop is chain-50 / 50.
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

from peer_workloads import WORKFLOW_NAME, WORKLOADS, run_peer  # noqa: E402

# runwright takes a wider matrix than the peer allows; the same 1,000 strategies either way.
MATRIX_PARALLEL = 4


def _maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(name: str, conf_dir: str) -> None:
    """Run one sample in this process and print its figures as JSON."""
    from runwright import Workflow

    workload = WORKLOADS[name]
    workflow = Workflow.from_conf(WORKFLOW_NAME, conf_dir)
    before = _maxrss_mib()
    started = time.perf_counter()
    result = workflow.execute(max_job_parallel=workload.max_job_parallel)
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


def run_ours(names: list[str], samples: int) -> dict[str, dict]:
    results: dict[str, dict] = {}
    for name in names:
        workload = WORKLOADS[name]
        with tempfile.TemporaryDirectory(prefix="rw-bench-") as tmp:
            conf = Path(tmp) / "conf"
            conf.mkdir()
            text = workload.make_yaml()
            if name == "matrix-1000":
                text = text.replace("max-parallel: 9", f"max-parallel: {MATRIX_PARALLEL}")
            (conf / "bench.yml").write_text(text)
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


def table(ours: dict[str, dict], peer: dict[str, dict] | None) -> str:
    head = f"{'workload':<12} {'stages':>6} {'wall s':>8} {'us/stage':>9} {'peak MiB':>9} {'RSS MiB':>8} {'trace KiB':>9}"
    if peer:
        head += f" | {'peer wall s':>11} {'peer MiB':>8} {'speed-up':>9}"
    lines = [head, "-" * len(head)]
    for name, r in ours.items():
        line = (
            f"{name:<12} {r['stages']:>6} {r['wall_s']:>8.3f} {r['per_stage_us']:>9.0f} "
            f"{r['peak_mb']:>9.1f} {r['rss_mb']:>8.1f} {r['log_kib']:>9.0f}"
        )
        if peer:
            p = peer.get(name, {})
            if p.get("wall_s"):
                flag = "" if p.get("ok") else " (peer FAILED)"
                line += (
                    f" | {p['wall_s']:>11.3f} {p['peak_mb']:>8.1f} {p['wall_s'] / r['wall_s']:>8.0f}x{flag}"
                )
            else:
                line += f" | {'n/a':>11} ({p.get('note', 'not run')})"
        lines.append(line)
    if "echo-1000" in ours:
        lines.append(f"per-stage overhead (echo-1000): {ours['echo-1000']['per_stage_us']:.0f} us")
    if "chain-50" in ours:
        lines.append(f"dependency hop (chain-50 / 50): {ours['chain-50']['wall_s'] / 50 * 1000:.2f} ms")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer", action="store_true", help="also run ddeutil-workflow 0.0.86")
    parser.add_argument("--samples", type=int, default=3)
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    names = [n for n in args.workloads.split(",") if n]
    ours = run_ours(names, args.samples)
    peer = run_peer(names) if args.peer else None
    if args.json:
        print(json.dumps({"runwright": ours, "peer": peer}, indent=2))
    else:
        print(table(ours, peer))


if __name__ == "__main__":
    main()
