"""Start-up benchmark: how long a fresh ``runwright`` process takes for the commonest commands.

    uv run python -m compileall -q -j2 .venv/lib core/src plugins/*/src contrib
    uv run python bench/startup.py [--samples 9]

Goals (issue 11, idle machine, bytecode compiled): ``--help`` and ``plugins`` under 120 ms,
``run hello-world --conf conf --quiet`` under 150 ms, ``import runwright`` under 60 ms. Each sample
is a fresh process (the console script, as a user runs it); the figure is the median wall time.
One warm-up run first, so the plugin entry-point cache in the user cache folder is written.
Run from the repository root (``conf/`` holds hello-world).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]


def runwright_script() -> str:
    script = Path(sys.executable).with_name("runwright")
    return str(script) if script.exists() else str(shutil.which("runwright"))


def median_ms(command: list[str], samples: int, env: dict[str, str]) -> float:
    """Median wall milliseconds of ``samples`` fresh processes (after one warm-up)."""
    subprocess.run(command, cwd=REPOSITORY, env=env, capture_output=True, check=False)
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        proc = subprocess.run(command, cwd=REPOSITORY, env=env, capture_output=True, check=False)
        times.append((time.perf_counter() - start) * 1000)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed: {proc.stderr.strip()}")
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=9, help="fresh processes per command (>= 7)")
    args = parser.parse_args()
    samples = max(args.samples, 7)
    script = runwright_script()
    with tempfile.TemporaryDirectory() as state:
        # runs are recorded and traced in a scratch folder, not in the repository
        env = {
            **os.environ,
            "RUNWRIGHT_LOG_PATH": str(Path(state) / "logs"),
            "RUNWRIGHT_AUDIT_URL": f"file://{Path(state) / 'audits'}",
        }
        commands = {
            "runwright --help": [script, "--help"],
            "runwright plugins": [script, "plugins"],
            "runwright run hello-world --conf conf --quiet": [
                script, "run", "hello-world", "--conf", "conf", "--quiet",
            ],
            "python -c 'import runwright'": [sys.executable, "-c", "import runwright"],
            "python -c 'pass' (floor)": [sys.executable, "-c", "pass"],
        }
        print(f"median wall of {samples} fresh processes each")
        for label, command in commands.items():
            print(f"{median_ms(command, samples, env):8.0f} ms  {label}")


if __name__ == "__main__":
    main()
