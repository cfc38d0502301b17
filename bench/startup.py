"""Start-up benchmark: a fresh ``runwright`` process per command, paired old against new.

    uv run python bench/startup.py [--samples 21]
    uv run python bench/startup.py --old-python /work/wt/click-main/.venv/bin/python [--samples 21]

Each sample is a whole fresh process of the console script, as a user runs it: every command's
``--help``, ``--version``, ``run hello-world --conf conf`` (the README's line, with the README's
environment: no ``RUNWRIGHT_AUDIT_URL``, so the default store in the state folder, here a temp
``RUNWRIGHT_HOME`` of its own per side), ``plugins``, a few cheap real commands, and the "import
floors": ``python -c 'import ...'`` of the libraries a command genuinely needs. With
``--old-python`` (the python of another checkout's venv, e.g. main's) each round runs every
command once on each side, in alternating order, so both sides see the same machine load; the
figures are medians and 90th percentiles of wall time, the CPU time (user + system) of the
process, and the median of the per-pair ratio new/old. On a busy machine the fastest sample
("min") is the nearest to what the process costs on an idle one; CPU time is the process's own.

Goals (issue 27): ``--help`` under 60 ms, ``run hello-world`` under 200 ms, ``plugins`` under
150 ms, every other command at most the import floor of what it needs plus 30 ms.

Bytecode is compiled first in both checkouts and venvs (``compileall``, as ``pip install`` leaves
a package; this machine sets ``PYTHONDONTWRITEBYTECODE``), unless ``--no-compile``. One warm-up
process per command and side writes the plugin entry-point cache (a temp ``XDG_CACHE_HOME`` per
side) and the template index before timing starts.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

#: label -> argv after the console script (``runwright``), or after the python for ``python -c``.
COMMANDS: dict[str, list[str]] = {
    "runwright --help": ["--help"],
    "runwright --version": ["--version"],
    "runwright run hello-world --conf conf": ["run", "hello-world", "--conf", "conf"],
    "runwright plugins": ["plugins"],
    "runwright run --help": ["run", "--help"],
    "runwright validate --help": ["validate", "--help"],
    "runwright schema --help": ["schema", "--help"],
    "runwright plugins --help": ["plugins", "--help"],
    "runwright logs --help": ["logs", "--help"],
    "runwright rerun --help": ["rerun", "--help"],
    "runwright scheduler --help": ["scheduler", "--help"],
    "runwright backfill --help": ["backfill", "--help"],
    "runwright audit --help": ["audit", "--help"],
    "runwright audit list --help": ["audit", "list", "--help"],
    "runwright runs --help": ["runs", "--help"],
    "runwright list --help": ["list", "--help"],
    "runwright serve --help": ["serve", "--help"],
    "runwright runs --conf conf": ["runs", "--conf", "conf"],
    "runwright audit list --conf conf": ["audit", "list", "--conf", "conf"],
    "runwright list --conf conf": ["list", "--conf", "conf"],
    "runwright validate conf/examples/hello.yml": ["validate", "conf/examples/hello.yml"],
}

#: label -> code for ``python -c``: what a process pays before any runwright code.
FLOORS: dict[str, str] = {
    "python -c pass": "pass",
    "python -c 'import runwright'": "import runwright",
    "floor: import click": "import click",
    "floor: import click, pluggy": "import click, pluggy",
    # `plugins` imports every plugin: the stage kinds' and calls' models need pydantic's fields
    # (pydantic.Field imports pydantic.types: secrets, hmac, OpenSSL), no YAML and no templates
    "floor: import click, pluggy, pydantic.BaseModel, pydantic.Field": (
        "import click, pluggy; from pydantic import BaseModel, Field"
    ),
    "floor: import click, pluggy, yaml, jinja2.sandbox, pydantic.BaseModel": (
        "import click, pluggy, yaml, jinja2.sandbox; from pydantic import BaseModel"
    ),
    # the first model built loads pydantic's plugins: importlib.metadata and every distribution's
    # entry points are read (pydantic's cost, paid by every command that validates anything)
    "floor: the same + one pydantic model built": (
        "import click, pluggy, yaml, jinja2.sandbox\nfrom pydantic import BaseModel\n"
        "class Model(BaseModel):\n    x: int"
    ),
    # `list` and `scheduler` compute next ticks: croniter (and the dateutil it imports) too
    "floor: the same + one pydantic model built + croniter": (
        "import click, pluggy, yaml, jinja2.sandbox, croniter\nfrom pydantic import BaseModel\n"
        "class Model(BaseModel):\n    x: int"
    ),
    "floor (old CLI): import typer.main, typer._adapters, pluggy, yaml, jinja2.sandbox, pydantic.BaseModel": (
        "import typer.main, typer._adapters, pluggy, yaml, jinja2.sandbox; from pydantic import BaseModel"
    ),
}


@dataclass
class Side:
    """One checkout and its venv: where its python and console script are, its own state."""

    name: str
    python: Path
    state: Path
    wall: dict[str, list[float]] = field(default_factory=dict)
    cpu: dict[str, list[float]] = field(default_factory=dict)

    @property
    def checkout(self) -> Path:
        return self.python.parents[2]  # CHECKOUT/.venv/bin/python

    def argv(self, label: str) -> list[str]:
        if label in FLOORS:
            return [str(self.python), "-c", FLOORS[label]]
        return [str(self.python.with_name("runwright")), *COMMANDS[label]]

    def env(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("RUNWRIGHT_")}
        env["RUNWRIGHT_HOME"] = str(self.state / "home")  # the README's defaults, in a scratch folder
        env["XDG_CACHE_HOME"] = str(self.state / "cache")
        return env

    def available(self, label: str) -> bool:
        """A floor importing a library this venv lacks (typer, once removed) is left out."""
        if label not in FLOORS:
            return True
        proc = subprocess.run(self.argv(label), capture_output=True, env=self.env(), check=False)
        return proc.returncode == 0

    def time_once(self, label: str) -> tuple[float, float]:
        """Wall and CPU (user + system) milliseconds of one fresh process."""
        with tempfile.TemporaryFile() as output:
            start = time.perf_counter()
            proc = subprocess.Popen(
                self.argv(label), cwd=self.checkout, env=self.env(), stdout=output, stderr=output
            )
            _, status, usage = os.wait4(proc.pid, 0)
            wall = (time.perf_counter() - start) * 1000
            proc.returncode = os.waitstatus_to_exitcode(status)
            if proc.returncode != 0:
                output.seek(0)
                text = output.read().decode(errors="replace").strip()
                raise SystemExit(
                    f"{self.name}: {' '.join(self.argv(label))} exited {proc.returncode}: {text}"
                )
        self.wall.setdefault(label, []).append(wall)
        self.cpu.setdefault(label, []).append((usage.ru_utime + usage.ru_stime) * 1000)
        return wall, (usage.ru_utime + usage.ru_stime) * 1000


def compile_bytecode(side: Side) -> None:
    """Write the .pyc files a pip-installed package would have (both checkouts and their venvs)."""
    folders = [side.checkout / ".venv" / "lib", side.checkout / "core" / "src", side.checkout / "contrib"]
    folders += sorted((side.checkout / "plugins").glob("*/src"))
    existing = [str(folder) for folder in folders if folder.exists()]
    subprocess.run(
        [str(side.python), "-m", "compileall", "-q", "-j2", *existing],
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": ""},
        stdout=subprocess.DEVNULL,
        check=False,
    )


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=21, help="fresh processes per command and side (>= 5)")
    parser.add_argument("--old-python", type=Path, help="the python of the old checkout's venv (paired A/B)")
    parser.add_argument(
        "--new-python", type=Path, default=Path(sys.executable), help="the python of the new checkout's venv"
    )
    parser.add_argument("--no-compile", action="store_true", help="do not compile bytecode first")
    parser.add_argument("--only", nargs="*", default=[], help="only labels containing one of these words")
    args = parser.parse_args()
    samples = max(args.samples, 5)
    with tempfile.TemporaryDirectory() as scratch:
        sides = [Side("new", args.new_python.absolute(), Path(scratch) / "new")]
        if args.old_python:
            sides.insert(0, Side("old", args.old_python.absolute(), Path(scratch) / "old"))
        labels = [*COMMANDS, *FLOORS]
        if args.only:
            labels = [label for label in labels if any(word in label for word in args.only)]
        for side in sides:
            if not args.no_compile:
                compile_bytecode(side)
            side.wall, side.cpu = {}, {}
        labels = [label for label in labels if all(side.available(label) for side in sides)]
        for side in sides:  # warm-up: entry-point cache, template index, default store
            for label in labels:
                side.time_once(label)
            side.wall, side.cpu = {}, {}
        for round_number in range(samples):
            for label in labels:
                order = sides if round_number % 2 == 0 else sides[::-1]
                for side in order:
                    side.time_once(label)
        report(sides, labels, samples)


def report(sides: list[Side], labels: list[str], samples: int) -> None:
    print(f"{samples} fresh processes per command and side; wall and CPU (user+sys) in ms")
    for side in sides:
        print(f"  {side.name}: {side.python}")
    header = "".join(
        f"  {side.name + ' wall med':>13} {'p90':>5} {'min':>5} {'cpu med':>7}" for side in sides
    )
    paired = len(sides) == 2
    print(f"{header}{'  new/old':>9}{'  faster':>8}  command")
    for label in labels:
        cells = ""
        for side in sides:
            wall, cpu = side.wall[label], side.cpu[label]
            cells += (
                f"  {statistics.median(wall):13.0f} {percentile(wall, 0.9):5.0f} {min(wall):5.0f}"
                f" {statistics.median(cpu):7.0f}"
            )
        if paired:
            old, new = (side.wall[label] for side in sides)
            ratio = statistics.median(n / o for o, n in zip(old, new, strict=True))
            faster = sum(n < o for o, n in zip(old, new, strict=True))
            cells += f"  {ratio:7.2f}  {faster:3d}/{len(old):<3d}"
        print(f"{cells}  {label}")


if __name__ == "__main__":
    main()
