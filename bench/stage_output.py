"""What capturing a Python stage's output costs: descriptors 1 and 2 as pipes, per stage.

    uv run python bench/stage_output.py             # 2,000 start/stop cycles, 300-stage run

Prints the cost of one :class:`runwright.console.StageOutput` start/stop (pipes swapped in
and out, the pipes drained) and the time of an in-process run of 300 ``run:`` stages, each
writing one line to ``sys.stderr`` and one to descriptor 2, which the capture routes to the trace.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

STAGE = """
        - id: s{i}
          run: |
            import os, sys
            sys.stderr.write("python {i}\\n")
            os.write(2, b"descriptor {i}\\n")
"""


def cycle_cost(cycles: int) -> float:
    from runwright.console import StageOutput

    def sink(line: str, event: str = "") -> None:
        pass

    started = time.perf_counter()
    for _ in range(cycles):
        output = StageOutput(sink)
        output.start()
        output.bind_current_thread()
        output.stop()
    return (time.perf_counter() - started) / cycles


def run_cost(stages: int, repeats: int) -> list[float]:
    import os

    from runwright import Workflow

    folder = Path(tempfile.mkdtemp(prefix="rw-bench-output-"))
    os.environ["RUNWRIGHT_LOG_PATH"] = str(folder / "logs")
    body = "".join(STAGE.format(i=i) for i in range(stages))
    (folder / "t.yml").write_text(f"many:\n  type: Workflow\n  jobs:\n    j:\n      stages:{body}")
    times = []
    for _ in range(repeats):
        workflow = Workflow.from_conf("many", folder)
        started = time.perf_counter()
        result = workflow.execute({})
        times.append(time.perf_counter() - started)
        assert result.status.value == "SUCCESS", result.errors
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cycles", type=int, default=2000)
    parser.add_argument("--stages", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    per_cycle = cycle_cost(args.cycles)
    times = run_cost(args.stages, args.repeats)
    out = sys.__stdout__
    print(f"StageOutput start+stop: {per_cycle * 1e6:.0f} us per stage ({args.cycles} cycles)", file=out)
    print(
        f"{args.stages} run: stages writing to sys.stderr and fd 2: median {statistics.median(times):.2f} s "
        f"({statistics.median(times) / args.stages * 1e3:.2f} ms per stage, {args.repeats} runs)",
        file=out,
    )


if __name__ == "__main__":
    main()
