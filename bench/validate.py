"""`runwright validate` benchmark: 1,000 templates in 100 files (goal: the whole process under 1.5 s).

    uv run python bench/validate.py

Each file holds 10 workflows of 3 jobs (``needs:``, a matrix, job outputs) and 7 stages with
expressions, filters, a ``uses:`` call with ``with:``, a foreach and a condition. Each sample
runs in a fresh subprocess; figures are medians of 3. "check" is ``check_conf`` alone (read,
validate, walk every expression); "command" is the whole ``runwright validate`` process, as
wall time and as the CPU time the process used (user + system, from ``getrusage``): on a shared
machine the CPU figure is what the process itself costs, the wall figure adds the wait for a CPU.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FILES = 100
PER_FILE = 10

TEMPLATE = """\
wf-{n}:
  type: Workflow
  params:
    name: {{type: str, default: world}}
    times: {{type: int, default: 2}}
    run-date: datetime
  jobs:
    extract:
      outputs:
        rows: ${{{{ stages.count.outputs.stdout }}}}
      stages:
        - name: Say hello
          echo: "hello ${{{{ params.name | upper }}}} on ${{{{ params.run-date | fmt('%Y-%m-%d') }}}}"
        - id: count
          if: params.times > 1
          bash: echo "${{{{ params.times }}}}"
        - id: greeting
          uses: tasks/greet@local
          with: {{name: "${{{{ params.name }}}}", times: 2}}
    transform:
      needs: [extract]
      strategy:
        matrix: {{part: [a, b, c]}}
        include: [{{part: a, extra: 1}}]
      stages:
        - id: each
          foreach: [1, 2, 3]
          stages:
            - id: item
              echo: "${{{{ matrix.part }}}}-${{{{ item }}}}-${{{{ loop.index }}}}"
        - id: after
          echo: ${{{{ stages.each.status }}}} ${{{{ jobs.extract.outputs.rows }}}}
    load:
      needs: [transform]
      stages:
        - id: done
          run: total = ${{{{ jobs.extract.outputs.rows }}}}
"""


def write_conf(folder: Path) -> None:
    for f in range(FILES):
        text = "".join(TEMPLATE.format(n=f * PER_FILE + i) for i in range(PER_FILE))
        (folder / f"file-{f:03d}.yml").write_text(text, encoding="utf-8")


def child(folder: str) -> None:
    started = time.perf_counter()
    from runwright.check import check_conf
    from runwright.runtime import Runtime

    runtime = Runtime.default()
    ready, cpu = time.perf_counter(), time.process_time()
    report = check_conf(Path(folder), runtime)
    done, cpu_done = time.perf_counter(), time.process_time()
    assert report.templates == FILES * PER_FILE and not report.errors, report.text()[:2000]
    print(json.dumps({"startup": ready - started, "check": done - ready, "cpu": cpu_done - cpu}))


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child(sys.argv[2])
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_conf(folder)
        checks, startups, commands, cpus, command_cpus = [], [], [], [], []
        for _ in range(3):
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(folder)], capture_output=True, text=True, check=True
            )
            figures = json.loads(out.stdout)
            checks.append(figures["check"])
            startups.append(figures["startup"])
            cpus.append(figures["cpu"])
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "runwright", "validate", str(folder)], capture_output=True, check=True
            )
            commands.append(time.perf_counter() - started)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            command_cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    print(f"templates: {FILES * PER_FILE} in {FILES} files")
    print(f"check_conf: {statistics.median(checks):.2f} s wall, {statistics.median(cpus):.2f} s CPU")
    print(f"import + plugins: {statistics.median(startups):.2f} s")
    print(
        f"runwright validate (whole process): {statistics.median(commands):.2f} s wall, "
        f"{statistics.median(command_cpus):.2f} s CPU"
    )
    print(f"load average during the run: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
