"""Template index benchmark: does looking up one template grow with the conf folder?

    uv run python bench/conf_index.py                 # 10 and 10,000 templates (10 a file)
    uv run python bench/conf_index.py --sizes 10 1000 10000 --samples 9 --process

For each size a conf folder is written in a temp dir (files edited an hour ago, as in a real
folder). In one process, with the runtime built once, it times the loader part of
``runwright run NAME``: ``load_template`` (stat the folder, refresh the index, parse and
validate one template) with no index (cold) and with the index written (warm, median), and
parsing every file (``discover``: what every lookup paid before the index) and reading +
validating every template (``discover`` + ``build_model``: what ``validate`` and the scheduler
pay). ``--process`` adds the wall time of fresh ``runwright run NAME --conf`` processes and of
fresh processes running it through the Python API (no command line), medians. Compile bytecode first for start-up figures (see docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peer_workloads import time_fresh_processes  # noqa: E402 - a sibling script's module

PER_FILE = 10
TEMPLATE = """
{name}:
  type: Workflow
  desc: template {name}
  params:
    day: {{type: str, default: "2024-01-01"}}
  jobs:
    first:
      stages:
        - {{id: say, echo: "hello ${{{{ params.day }}}}"}}
    second:
      needs: [first]
      stages:
        - {{id: again, bash: "echo {name}"}}
"""


def write_folder(root: Path, templates: int) -> tuple[Path, str]:
    conf = root / "conf"
    past = time.time() - 3600
    for number in range(0, templates, PER_FILE):
        names = range(number, min(number + PER_FILE, templates))
        path = conf / f"team-{number // 1000:03d}" / f"flows-{number // PER_FILE:05d}.yml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(TEMPLATE.format(name=f"wf-{n:05d}") for n in names), encoding="utf-8")
        os.utime(path, (past, past))
    return conf, f"wf-{templates // 2:05d}"


def timed(action) -> float:  # noqa: ANN001
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


API_RUN = (
    "import sys\n"
    "from runwright import Workflow\n"
    "assert Workflow.from_conf(sys.argv[1], sys.argv[2]).execute({}).status.value == 'SUCCESS'\n"
)
"""A fresh process running the template through the Python API, as a user's script does."""


def median_process_wall(command: list[str], env: dict[str, str], cwd: Path, samples: int) -> float:
    """Median wall of ``samples`` fresh processes after a warm-up (as bench/engine.py times them)."""
    timed = time_fresh_processes(command, env, cwd, samples)
    if timed["wall_s"] is None:
        raise SystemExit(f"{' '.join(command)}: {timed['note']}")
    return timed["wall_s"]


def measure(templates: int, samples: int, process: bool) -> dict[str, float]:
    from runwright.loader import build_model, discover, load_template
    from runwright.models.workflow import Workflow
    from runwright.runtime import Runtime
    from runwright.state import index_file

    runtime = Runtime.default()
    with tempfile.TemporaryDirectory() as tmp:
        conf, name = write_folder(Path(tmp), templates)
        figures = {"cold": timed(lambda: load_template(name, conf, runtime, Workflow))}
        assert index_file(conf).is_file()
        warm = [timed(lambda: load_template(name, conf, runtime, Workflow)) for _ in range(samples)]
        figures["warm"] = statistics.median(warm)

        def load_all() -> None:
            for source in discover(conf).values():
                build_model(source, runtime, Workflow)

        figures["all"] = timed(load_all)
        figures["parse"] = timed(lambda: discover(conf))  # what every lookup cost before the index
        if process:
            env = {**os.environ, "RUNWRIGHT_LOG_PATH": str(Path(tmp) / "logs"), "RUNWRIGHT_TRACE": "0"}
            env["RUNWRIGHT_AUDIT_URL"] = f"file://{Path(tmp) / 'audits'}"
            cli = [sys.executable, "-m", "runwright", "run", name, "--conf", str(conf), "--quiet"]
            figures["process"] = median_process_wall(cli, env, Path(tmp), samples)
            api = [sys.executable, "-c", API_RUN, name, str(conf)]  # no command line: no click
            figures["api"] = median_process_wall(api, env, Path(tmp), samples)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 10_000], help="templates per folder")
    parser.add_argument("--samples", type=int, default=7)
    parser.add_argument("--process", action="store_true", help="also time fresh `runwright run` processes")
    args = parser.parse_args()
    header = f"{'templates':>9} {'files':>6} {'cold index':>11} {'warm lookup':>12} {'parse all':>10} {'load all':>9}"
    print(header + (f" {'run (process)':>14} {'run (API process)':>18}" if args.process else ""))
    for size in args.sizes:
        f = measure(size, args.samples, args.process)
        files = -(-size // PER_FILE)
        line = f"{size:>9} {files:>6} {f['cold'] * 1000:>9.1f}ms {f['warm'] * 1000:>10.2f}ms"
        line += f" {f['parse']:>9.2f}s {f['all']:>8.2f}s"
        if args.process:
            line += f" {f['process'] * 1000:>12.0f}ms {f['api'] * 1000:>16.0f}ms"
        print(line)


if __name__ == "__main__":
    main()
