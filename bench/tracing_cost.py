"""What the tracing hooks cost a run when no tracer plugin answers (issue 28).

    uv run python bench/tracing_cost.py             # this tree
    RUNWRIGHT_DISABLE_PLUGINS=otel uv run python bench/tracing_cost.py   # as without the extra

Runs two workloads in this process, many times (trace file on): one job of 1,000 echo stages,
and a 500-strategy matrix of one echo stage each. Prints the minimum and the median µs per stage
over the repetitions: on a shared machine the minimum is the figure that noise does not inflate.
Only public API is used, so the same file measures a tree without the hooks (main before the
change) for comparison. Also prints which ``opentelemetry`` modules the process imported.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

ECHO = """
echo-1000:
  type: Workflow
  jobs:
    j:
      stages:
{stages}
"""
MATRIX = """
matrix-500:
  type: Workflow
  jobs:
    j:
      strategy: {{matrix: {{n: {values}}}, max-parallel: 4}}
      stages:
        - {{id: s, echo: "${{{{ matrix.n }}}}"}}
"""
REPEATS = 15
WARM_UP = 2


def measure(name: str, conf: Path, stages: int) -> tuple[float, float]:
    from runwright import Workflow

    workflow = Workflow.from_conf(name, conf)
    times = []
    for index in range(WARM_UP + REPEATS):
        started = time.perf_counter()
        result = workflow.execute()
        elapsed = time.perf_counter() - started
        assert result.status.value == "SUCCESS", result.errors
        if index >= WARM_UP:
            times.append(elapsed)
    return min(times) / stages * 1e6, statistics.median(times) / stages * 1e6


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        conf = Path(folder) / "conf"
        conf.mkdir()
        echo = "\n".join(f"        - {{id: s{i}, echo: 'hello {i}'}}" for i in range(1000))
        (conf / "echo.yml").write_text(ECHO.format(stages=echo), encoding="utf-8")
        (conf / "matrix.yml").write_text(MATRIX.format(values=list(range(500))), encoding="utf-8")
        import os

        os.environ.setdefault("RUNWRIGHT_LOG_PATH", str(Path(folder) / "logs"))
        for name, stages in (("echo-1000", 1000), ("matrix-500", 500)):
            low, middle = measure(name, conf, stages)
            print(f"{name}: min {low:.1f} µs/stage, median {middle:.1f} µs/stage ({REPEATS} runs)")
    loaded = sorted(m for m in sys.modules if m.startswith("opentelemetry"))
    print(f"opentelemetry modules imported: {len(loaded)}")
    hook_call_cost()


def hook_call_cost() -> None:
    """The once-per-run ``make_run_tracer`` call, timed alone (trees that have the hook)."""
    import timeit

    from runwright.runtime import Runtime

    hook = getattr(Runtime.default().pm.hook, "make_run_tracer", None)
    if hook is None:
        print("make_run_tracer: not in this tree")
        return
    implementations = [impl.plugin_name for impl in hook.get_hookimpls()]

    def call() -> None:
        hook(workflow="w", run_id="r", parent_run_id=None, release={}, traceparent=None, remote=False)

    number = 20_000
    best = min(timeit.repeat(call, number=number, repeat=5)) / number * 1e6
    print(f"make_run_tracer call: {best:.2f} µs per run (implementations: {implementations or 'none'})")


if __name__ == "__main__":
    main()
