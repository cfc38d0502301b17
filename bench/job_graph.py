"""`validate` of one workflow whose jobs form a long ``needs:`` chain (issue 22: 3,000 jobs took 27 s).

    uv run python bench/job_graph.py                       # 400, 800, 1,600 and 3,000 jobs
    uv run python bench/job_graph.py --src /work/main/core/src --sizes 400,800,1600

Job ``j{i}`` needs ``j{i-1}`` and reads ``jobs.j{i-1}`` in a stage; the last job reads
``jobs.j0`` (the far end of the chain). Each size runs in a fresh subprocess: "read" is
``discover`` (YAML), "check" is ``check_conf`` (read, build the model, walk every expression)
and "check - read" what the model and the checker add. ``--src`` puts another source tree of
runwright first on the path (another branch's ``core/src``) to compare before and after.
A linear check doubles with the chain; a quadratic one quadruples.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def chain(length: int) -> str:
    lines = ["chain:", "  type: Workflow", "  jobs:"]
    for index in range(length):
        lines.append(f"    j{index}:")
        if index:
            lines.append(f"      needs: [j{index - 1}]")
        reads = "j0" if index == length - 1 else f"j{index - 1}"
        echo = f"'${{{{ jobs.{reads}.status }}}}'" if index else "hi"
        lines.append(f"      stages: [{{id: s, echo: {echo}}}]")
    return "\n".join(lines) + "\n"


def child(file: str) -> None:
    from runwright.check import check_conf
    from runwright.loader import discover
    from runwright.runtime import Runtime

    runtime = Runtime.default()
    started = time.perf_counter()
    discover(Path(file))
    read = time.perf_counter() - started
    started = time.perf_counter()
    report = check_conf(Path(file), runtime)
    check = time.perf_counter() - started
    assert report.templates == 1 and not report.errors, report.text()[:2000]
    print(json.dumps({"read": read, "check": check}))


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child(sys.argv[2])
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="400,800,1600,3000")
    parser.add_argument("--src", help="another runwright source tree (core/src) to measure")
    args = parser.parse_args()
    env = dict(os.environ)
    if args.src:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [args.src, env.get("PYTHONPATH")]))
    print(f"{'jobs':>6} {'read s':>8} {'check s':>8} {'check - read':>13}")
    with tempfile.TemporaryDirectory() as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            file = Path(tmp) / f"chain-{size}.yml"
            file.write_text(chain(size), encoding="utf-8")
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(file)],
                capture_output=True,
                text=True,
                check=True,
                env=env,
            )
            figures = json.loads(out.stdout)
            print(
                f"{size:>6} {figures['read']:>8.2f} {figures['check']:>8.2f} {figures['check'] - figures['read']:>13.2f}"
            )
    print(f"load average during the run: {os.getloadavg()[0]:.1f} (the machine's cores: {os.cpu_count()})")


if __name__ == "__main__":
    main()
