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
    two_at_once = workflow_from(
        "pair:\n  type: Workflow\n  jobs:\n"
        "    a: {stages: [{id: s, echo: hi}]}\n    b: {stages: [{id: s, echo: hi}]}\n"
    )
    def job_threads() -> set[int | None]:
        return {t.ident for t in threading.enumerate() if t.name.startswith("runwright-job")}

    assert two_at_once.execute().status.value == "SUCCESS"
    before, seen = job_threads(), set()
    for _ in range(40):
        assert two_at_once.execute().status.value == "SUCCESS"
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


TWELVE_JOBS = "twelve:\n  type: Workflow\n  jobs:\n" + "".join(
    f"    j{n}: {{stages: [{{id: s, bash: 'sleep 0.3'}}]}}\n" for n in range(12)
)


def job_threads() -> set[threading.Thread]:
    return {thread for thread in threading.enumerate() if thread.name.startswith("runwright-job")}


def test_job_threads_a_load_peak_started_end_once_idle(workflow_from, isolated_env, monkeypatch) -> None:
    """A server's load peak (twelve jobs at once here) starts threads; once they have nothing
    to do for the idle period they end, so a process that runs for months does not keep the
    threads of its busiest hour. A later run starts what it needs again."""
    from runwright.engine import executors

    # a pool of this test's own: earlier tests' idle threads wait out the full idle period
    monkeypatch.setattr(executors, "_process_threads", None)
    monkeypatch.setattr(executors, "JOB_THREAD_IDLE_SECONDS", 0.5, raising=False)
    earlier = job_threads()
    twelve = workflow_from(TWELVE_JOBS)
    assert twelve.execute(max_job_parallel=12).status.value == "SUCCESS"
    assert len(job_threads() - earlier) >= 12
    for _ in range(200):  # bounded: 20 s
        if not job_threads() - earlier:
            break
        threading.Event().wait(0.1)
    assert job_threads() - earlier == set()
    assert twelve.execute(max_job_parallel=12).status.value == "SUCCESS"


PROCESS_EXITS_WITH_IDLE_JOB_THREADS = """
import sys, threading
from runwright.engine.executors import process_job_threads

marker = sys.argv[1]
together = threading.Barrier(3)
for _ in range(2):  # two threads at once; then at least one is idle for the next minute
    process_job_threads().submit(lambda: together.wait(30))
together.wait(30)

def slow_job():
    threading.Event().wait(1.0)
    open(marker, "w").write("finished")

process_job_threads().submit(slow_job)  # still running when the main thread ends
"""


def test_a_process_exits_at_once_with_idle_job_threads_and_waits_for_running_jobs(tmp_path) -> None:
    """An idle job thread does not hold the process up for its idle period; a running job is
    finished before the interpreter exits (job threads are not daemons)."""
    import subprocess
    import sys

    marker = tmp_path / "marker"
    ended = subprocess.run(
        [sys.executable, "-c", PROCESS_EXITS_WITH_IDLE_JOB_THREADS, str(marker)],
        capture_output=True,
        text=True,
        timeout=30,  # the idle period is 60 s: waiting for it fails here
    )
    assert ended.returncode == 0, ended.stderr
    assert marker.read_text() == "finished"


JOB_THREADS_SEEN = """
import threading
job_threads = sorted(t.name for t in threading.enumerate() if t.name.startswith("runwright-job"))
"""

CHAIN_THEN_FAN_OUT = """
chain:
  type: Workflow
  jobs:
    first: {stages: [{id: s, echo: one}]}
    second:
      needs: [first]
      stages:
        - id: seen
          run: |
{body}
    left: {needs: [second], stages: [{id: s, bash: "sleep 0.3"}]}
    right: {needs: [second], stages: [{id: s, bash: "sleep 0.3"}]}
"""


def test_a_job_alone_runs_on_its_runs_thread(tmp_path, conf) -> None:
    """A job whose needs are met while nothing else of its run runs is run by the run's own
    thread, which would otherwise only wait for it: a chain of jobs starts no job thread (a
    busy server had two threads per run, issue 30). Jobs that can run together still do."""
    import subprocess
    import sys

    body = "\n".join(" " * 12 + line for line in JOB_THREADS_SEEN.strip().splitlines())
    path = conf(CHAIN_THEN_FAN_OUT.replace("{body}", body))
    program = (
        "import json, sys\n"
        "from runwright import Workflow\n"
        "result = Workflow.from_conf('chain', path=sys.argv[1]).execute()\n"
        "print(json.dumps({'status': result.status.value, 'jobs': result.context['jobs']}))\n"
    )
    ended = subprocess.run(  # a fresh process: no idle job thread left by another test
        [sys.executable, "-c", program, str(path.parent)], capture_output=True, text=True, timeout=60
    )
    assert ended.returncode == 0, ended.stderr
    import json

    outcome = json.loads(ended.stdout.strip().splitlines()[-1])
    assert outcome["status"] == "SUCCESS"
    jobs = outcome["jobs"]
    assert jobs["second"]["stages"]["seen"]["outputs"]["job_threads"] == []
    left = jobs["left"]["stages"]["s"]
    right = jobs["right"]["stages"]["s"]
    assert left["status"] == right["status"] == "SUCCESS"


def test_jobs_that_can_run_together_still_do(workflow_from, isolated_env) -> None:
    """After a job that ran on the run's thread, two jobs whose needs it met run at once."""
    fan_out = workflow_from(
        "fan:\n  type: Workflow\n  jobs:\n"
        "    first: {stages: [{id: s, echo: one}]}\n"
        "    left: {needs: [first], stages: [{id: s, bash: 'sleep 0.5'}]}\n"
        "    right: {needs: [first], stages: [{id: s, bash: 'sleep 0.5'}]}\n"
        "    last: {needs: [left, right], stages: [{id: s, echo: done}]}\n"
    )
    result = fan_out.execute()
    assert result.status.value == "SUCCESS"
    spans = dict(zip(sorted(result.context["jobs"]), job_spans(result), strict=True))
    assert most_at_once([spans["left"], spans["right"]]) == 2
    assert spans["last"][0] >= max(spans["left"][1], spans["right"][1])
