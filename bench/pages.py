"""Server time of each observe page with 10,000 runs in a SQLite store (issue 26: under 100 ms).

    uv run python bench/pages.py                  # 10,000 runs, each page 20 times
    uv run python bench/pages.py --runs 2000 --repeat 5

Fills a SQLite audit store with N finished runs of three workflows (a matrix job and a failed
stage among them, with their trace lines kept for search), writes the trace file of the run
whose page is read, then asks the FastAPI app in this process (no socket: the time is the
server's) for each page and prints the first request's time, the median and the 90th percentile.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

CONF = """
pipeline:
  type: Workflow
  desc: Extracts, checks three parts in a matrix, loads.
  params:
    table: {type: str, default: orders}
  on:
    - cronjob: "0 6 * * *"
      timezone: UTC
  jobs:
    extract:
      stages:
        - {id: count, bash: 'echo "extracting ${{ params.table }}"'}
    check:
      needs: [extract]
      strategy:
        matrix: {part: [zeta, alpha, mid]}
      stages:
        - {id: first, echo: "checked ${{ matrix.part }}"}
        - {id: second, echo: "second ${{ matrix.part }}"}
    load:
      needs: [check]
      stages:
        - {id: prepare, echo: preparing}
        - {id: gate, bash: 'echo loading'}
hourly:
  type: Workflow
  on: [{cronjob: "0 * * * *", timezone: UTC}]
  jobs:
    only:
      stages:
        - {id: one, echo: done}
daily:
  type: Workflow
  jobs:
    only:
      stages:
        - {id: one, echo: done}
"""
WORKFLOWS = ("pipeline", "hourly", "daily")


def context_of(index: int, failed: bool) -> dict:
    stage = {"status": "SUCCESS", "outputs": {}}
    strategies = {
        part: {"matrix": {"part": part}, "status": "SUCCESS", "stages": {"first": stage, "second": stage}}
        for part in ("zeta", "alpha", "mid")
    }
    return {
        "params": {"table": f"t{index % 7}"},
        "jobs": {
            "extract": {"status": "SUCCESS", "stages": {"count": stage}},
            "check": {"status": "SUCCESS", "stages": {}, "strategies": strategies},
            "load": {
                "status": "FAILED" if failed else "SUCCESS",
                "stages": {
                    "prepare": stage,
                    "gate": {"status": "FAILED"} if failed else stage,
                },
            },
        },
    }


def trace_events(run_id: str, workflow: str, start: float, failed: bool) -> list[dict]:
    events = [{"time": start, "event": "run-start", "message": f"workflow {workflow}"}]
    moment = start
    for job, strategy, stage in [
        ("extract", None, "count"),
        *[("check", part, name) for part in ("zeta", "alpha", "mid") for name in ("first", "second")],
        ("load", None, "prepare"),
        ("load", None, "gate"),
    ]:
        where = {"job": job, "stage": stage, **({"strategy": strategy} if strategy else {})}
        events.append({"time": moment, "event": "stage-start", **where})
        events.append(
            {"time": moment + 0.01, "event": "stdout", "message": f"{stage} line {moment:.0f}", **where}
        )
        bad = failed and stage == "gate"
        end = {"status": "FAILED" if bad else "SUCCESS", "seconds": 0.02}
        if bad:
            end["errors"] = [{"name": "BashError", "message": "connection refused by db-primary"}]
        events.append({"time": moment + 0.02, "event": "stage-end", **where, **end})
        moment += 0.03
    events.append({"time": moment, "event": "run-end", "message": "FAILED" if failed else "SUCCESS"})
    return [{"run_id": run_id, "workflow": workflow, **e} for e in events]


def fill(root: Path, runs: int) -> tuple[str, str]:
    from runwright.audit import (
        ReleaseRecord,
        ReleaseStatus,
        ReleaseType,
        log_lines_from_trace,
        make_audit_backend,
    )

    backend = make_audit_backend(f"sqlite:///{root / 'audit.db'}")
    base = datetime(2025, 1, 1, tzinfo=UTC)
    records, last_failed, last_pipeline = [], "", ""
    started = time.perf_counter()
    for index in range(runs):
        workflow = WORKFLOWS[index % 3]
        failed = index % 10 == 0
        begin = base + timedelta(hours=index)
        run_id = f"{begin:%Y%m%dT%H%M%S}-{index:010x}"
        records.append(
            ReleaseRecord(
                workflow=workflow,
                release=begin,
                type=ReleaseType.SCHEDULED,
                run_id=run_id,
                status=ReleaseStatus.FAILED if failed else ReleaseStatus.SUCCESS,
                params={"table": f"t{index % 7}"},
                context=context_of(index, failed),
                errors=[
                    {"name": "BashError", "message": "connection refused", "job": "load", "stage": "gate"}
                ]
                if failed
                else [],
                started=begin,
                ended=begin + timedelta(seconds=30 + index % 50),
                heartbeat=begin,
            )
        )
        if workflow == "pipeline":
            last_pipeline = run_id
            last_failed = run_id if failed else last_failed
        if len(records) == 500:
            backend.claim_many(records)
            records = []
    if records:
        backend.claim_many(records)
    for index in range(0, runs, 3):  # the pipeline's runs keep their lines for search
        begin = base + timedelta(hours=index)
        run_id = f"{begin:%Y%m%dT%H%M%S}-{index:010x}"
        events = trace_events(run_id, "pipeline", begin.timestamp(), index % 10 == 0)
        backend.add_log_lines(run_id, "pipeline", log_lines_from_trace(events))
    print(f"filled {runs} runs in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    logs = root / "logs"
    logs.mkdir()
    for run_id in (last_failed, last_pipeline):
        begin = datetime.strptime(run_id[:15], "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
        lines = trace_events(run_id, "pipeline", begin.timestamp(), run_id == last_failed)
        (logs / f"{run_id}.jsonl").write_text("".join(json.dumps(e) + "\n" for e in lines))
    backend.close()
    return last_failed, last_pipeline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=20)
    options = parser.parse_args()
    import os

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "conf").mkdir()
        (root / "conf" / "workflows.yml").write_text(CONF)
        os.environ["RUNWRIGHT_LOG_PATH"] = str(root / "logs")
        os.environ["RUNWRIGHT_AUDIT_URL"] = f"sqlite:///{root / 'audit.db'}"
        failed, recent = fill(root, options.runs)
        import warnings

        from runwright.audit import make_audit_backend
        from runwright_api.app import create_app
        from runwright_api.service import RunService

        warnings.simplefilter("ignore", DeprecationWarning)
        from starlette.testclient import TestClient

        service = RunService(root / "conf", audit=make_audit_backend(os.environ["RUNWRIGHT_AUDIT_URL"]))
        app = create_app(service, bind_host="127.0.0.1", allowed_hosts=["testserver"])
        pages = {
            "/ (workflows)": "/",
            "/runs": "/runs",
            "/runs?workflow=pipeline&status=FAILED": "/runs?workflow=pipeline&status=FAILED",
            "/workflows/pipeline": "/workflows/pipeline",
            "/runs/{failed run}": f"/runs/{failed}",
            "/runs/{run}/log.txt": f"/runs/{recent}/log.txt",
            "/search?q=connection refused": "/search?q=connection+refused&workflow=pipeline",
            "/search?q=line (33,000 lines match)": "/search?q=line",
            "/api/v1/logs/search": "/api/v1/logs/search?q=connection+refused",
        }
        print(f"{options.runs} runs in SQLite; server time per page over {options.repeat} requests:")
        print("(first: the first request, templates compiled and the conf read; then median and p90)")
        print(f"{'page':44} {'first':>9} {'median':>9} {'p90':>9}")
        with TestClient(app) as client:
            for label, path in pages.items():
                times = []
                for _ in range(options.repeat + 1):
                    begin = time.perf_counter()
                    answer = client.get(path)
                    times.append((time.perf_counter() - begin) * 1000)
                    assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
                first, rest = times[0], sorted(times[1:])
                p90 = rest[min(len(rest) - 1, int(len(rest) * 0.9))]
                print(f"{label:44} {first:6.1f} ms {statistics.median(rest):6.1f} ms {p90:6.1f} ms")
        service.audit.close()


if __name__ == "__main__":
    main()
