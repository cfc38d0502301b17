"""Jobs run on the process's shared job threads: runs reuse idle threads instead of starting a
pool each, and each run still runs at most ``max_job_parallel`` of its jobs at once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from runwright.trace import read_trace

FOUR_JOBS = """
four:
  type: Workflow
  jobs:
    a: {stages: [{id: s, bash: "sleep 0.2"}]}
    b: {stages: [{id: s, bash: "sleep 0.2"}]}
    c: {stages: [{id: s, bash: "sleep 0.2"}]}
    d: {stages: [{id: s, bash: "sleep 0.2"}]}
"""


def job_spans(result) -> list[tuple[float, float]]:
    starts, ends = {}, {}
    for event in read_trace(Path(result.log_file)):
        if event["event"] == "job-start":
            starts[event["job"]] = event["time"]
        elif event["event"] == "job-end":
            ends[event["job"]] = event["time"]
    return [(starts[job], ends[job]) for job in sorted(starts)]


def most_at_once(spans: list[tuple[float, float]]) -> int:
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    return peak


def test_sequential_runs_reuse_the_job_threads(workflow_from, isolated_env) -> None:
    one_job = workflow_from("tiny:\n  type: Workflow\n  jobs:\n    only: {stages: [{id: s, echo: hi}]}\n")
    def job_threads() -> set[int | None]:
        return {t.ident for t in threading.enumerate() if t.name.startswith("runwright-job")}

    assert one_job.execute().status.value == "SUCCESS"
    before, seen = job_threads(), set()
    for _ in range(40):
        assert one_job.execute().status.value == "SUCCESS"
        seen |= job_threads()
    assert before and len(seen - before) <= 2  # 40 runs, not 40 new threads


def test_each_run_keeps_its_own_parallel_limit_on_shared_threads(workflow_from, isolated_env) -> None:
    four = workflow_from(FOUR_JOBS)
    with ThreadPoolExecutor(2) as pool:  # two runs at once, limits 1 and 2
        serial = pool.submit(four.execute, max_job_parallel=1)
        paired = pool.submit(four.execute, max_job_parallel=2)
        serial_result, paired_result = serial.result(timeout=60), paired.result(timeout=60)
    assert serial_result.status.value == paired_result.status.value == "SUCCESS"
    assert most_at_once(job_spans(serial_result)) == 1
    assert most_at_once(job_spans(paired_result)) == 2
