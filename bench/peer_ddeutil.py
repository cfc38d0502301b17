"""Run the runwright benchmark workloads on ddeutil-workflow (the peer).

Usage:
    python bench/peer_ddeutil.py                      # all workloads, table
    python bench/peer_ddeutil.py --json               # machine-readable
    python bench/peer_ddeutil.py --workloads echo-1000,matrix-1000
    python bench/peer_ddeutil.py --samples 1 --trace off

The first run creates bench/.peer-venv with ddeutil-workflow pinned (see
peer_workloads.PEER_REQUIREMENT); later runs reuse it. Each sample runs in a
fresh subprocess of that venv; ddeutil's trace output goes to a temp file,
not the terminal. All logic lives in bench/peer_workloads.py (``run_peer``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import peer_workloads as pw  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=f"Benchmark workloads on {pw.PEER_REQUIREMENT} (peer of runwright).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="workloads:\n" + "\n".join(f"  {w.name:<12} {w.description}" for w in pw.WORKLOADS.values()),
    )
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ap.add_argument(
        "--workloads",
        default=",".join(pw.WORKLOADS),
        help="comma-separated workload names (default: all)",
    )
    ap.add_argument(
        "--samples",
        type=int,
        default=None,
        help="samples per workload (default: 3; chain-50: 1)",
    )
    ap.add_argument(
        "--trace",
        choices=("default", "off"),
        default="default",
        help="'default' keeps ddeutil's console tracing (output captured); "
        "'off' sets WORKFLOW_LOG_TRACE_HANDLERS='[]'",
    )
    ap.add_argument("--timeout", type=float, default=600.0, help="per-sample timeout, s")
    ap.add_argument("--rebuild-venv", action="store_true", help="recreate bench/.peer-venv")
    ap.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    args = ap.parse_args(argv)

    names = [n.strip() for n in args.workloads.split(",") if n.strip()]
    if args.samples is not None and args.samples < 1:
        ap.error("--samples must be >= 1")

    t0 = time.perf_counter()
    results = pw.run_peer(
        names,
        samples=args.samples,
        trace=args.trace,
        timeout=args.timeout,
        rebuild_venv=args.rebuild_venv,
        progress=None if args.quiet else pw._log,
    )
    total = time.perf_counter() - t0

    if args.json:
        print(
            json.dumps(
                {
                    "peer": pw.PEER_REQUIREMENT,
                    "trace": args.trace,
                    "total_s": total,
                    "mem_method": pw.MEM_METHOD,
                    "results": results,
                },
                indent=2,
            )
        )
    else:
        print(
            pw.format_table(
                results,
                title=f"{pw.PEER_REQUIREMENT}  (trace={args.trace}, total run {total:.0f}s)",
            )
        )
    failed = [n for n, r in results.items() if r["wall_s"] is None]
    return 1 if failed and len(failed) == len(results) else 0


if __name__ == "__main__":
    sys.exit(main())
