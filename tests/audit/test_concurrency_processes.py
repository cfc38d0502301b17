"""Concurrency limits kept across real processes sharing one store (file, SQLite, PostgreSQL).

Four processes start 50 runs each into one group of limit 2: a ``runwright backfill``, a
``runwright scheduler`` on a simulated clock, a ``runwright serve`` taking 50 POSTs, and a
Python program releasing from 50 threads. From the runs' traces: never more than 2 at once, none
lost, and the waiting runs got their slots in the order they queued. Then SIGKILL of a holder:
its run becomes CRASHED and the next waiter starts within the lease period.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from runwright.audit import AuditBackend, ReleaseStatus, mark_dead_crashed

from tests.api.conftest import start_server, stop_server

RUNS_EACH = 50
LEASE_SECONDS = 4

CONF = """
crowd:
  type: Workflow
  concurrency: {group: crowd, limit: 2}
  on:
    - cronjob: "* * * * *"
  jobs:
    work:
      stages:
        - {name: work, bash: "sleep 0.02"}
"""

RELEASER = """
import sys, threading
from datetime import datetime, timedelta, UTC
from runwright import Workflow
from runwright.audit import make_audit_backend
workflow = Workflow.from_conf("crowd", sys.argv[1])
audit = make_audit_backend()
first = datetime(2026, 3, 3, tzinfo=UTC)
threads = [
    threading.Thread(target=workflow.release, args=(first + timedelta(seconds=i),), kwargs={"audit": audit})
    for i in range(int(sys.argv[2]))
]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join(600)
print("released", flush=True)
"""


def trace_spans(logs: Path) -> dict[str, tuple[float, float]]:
    """run id -> (run-start, run-end) times from every trace file in ``logs``."""
    spans: dict[str, tuple[float, float]] = {}
    for path in logs.rglob("*.jsonl"):
        events = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        start = [e["time"] for e in events if e["event"] == "run-start"]
        end = [e["time"] for e in events if e["event"] == "run-end"]
        if start and end:
            spans[events[0]["run_id"]] = (start[0], end[-1])
    return spans


def most_at_once(spans: list[tuple[float, float]]) -> int:
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    now = peak = 0
    for _, step in events:
        now += step
        peak = max(peak, now)
    return peak


@pytest.fixture
def shared(tmp_path: Path, audit_url: str, open_backend: Callable[[str], AuditBackend]) -> dict[str, object]:
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "crowd.yml").write_text(CONF, encoding="utf-8")
    env = dict(os.environ)
    env.update(
        RUNWRIGHT_AUDIT_URL=audit_url,
        RUNWRIGHT_LOG_PATH=str(tmp_path / "logs"),
        PYTHONUNBUFFERED="1",
    )
    return {
        "conf": conf,
        "env": env,
        "logs": tmp_path / "logs",
        "store": open_backend(audit_url),
        "root": tmp_path,
    }


def runwright(*args: str, env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "runwright", *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_four_processes_keep_a_group_of_two_first_in_first_out(shared: dict[str, object]) -> None:
    conf, env, store = shared["conf"], shared["env"], shared["store"]
    assert isinstance(conf, Path) and isinstance(env, dict) and isinstance(store, AuditBackend)
    root = shared["root"]
    assert isinstance(root, Path)
    server_env = {k: env[k] for k in ("RUNWRIGHT_AUDIT_URL", "RUNWRIGHT_LOG_PATH")}
    server = start_server(root / "server", env=server_env, conf_text=CONF)
    try:
        backfill = runwright(
            "backfill", "crowd", "--conf", str(conf), "--start", "2026-03-01T00:00", "--end", "2026-03-01T00:49",
            "--max-active", str(RUNS_EACH), env=env, cwd=root,
        )  # fmt: skip
        scheduler = runwright(
            "scheduler", "--conf", str(conf), "--simulate-from", "2026-03-01T23:59:30",
            "--until", "2026-03-02T00:49:30", "--workers", str(RUNS_EACH),
            "--grace-seconds", "600",  # at --until its queued ticks may still wait for a slot
            env=env, cwd=root,
        )  # fmt: skip
        releaser = subprocess.Popen(
            [sys.executable, "-c", RELEASER, str(conf), str(RUNS_EACH)],
            env=env, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        run_ids = [server.trigger("crowd") for _ in range(RUNS_EACH)]
        outputs = {}
        for name, process in (("backfill", backfill), ("scheduler", scheduler), ("releaser", releaser)):
            out, _ = process.communicate(timeout=600)
            outputs[name] = out
            assert process.returncode == 0, f"{name} failed:\n{out}"
        for run_id in run_ids:
            assert (
                server.wait_status(run_id, lambda s: s not in ("RUNNING", "QUEUED"), timeout=300)["status"]
                == "SUCCESS"
            )
    finally:
        stop_server(server)

    records = store.list(workflow="crowd")
    by_type = {
        kind: sum(1 for r in records if r.type.value == kind) for kind in ("backfill", "scheduled", "manual")
    }
    assert by_type == {"backfill": RUNS_EACH, "scheduled": RUNS_EACH, "manual": 2 * RUNS_EACH}, outputs
    unfinished = [
        (r.type.value, r.status.value, r.host, r.pid, r.errors)
        for r in records
        if r.status is not ReleaseStatus.SUCCESS
    ]
    assert not unfinished, (unfinished, outputs)
    logs = shared["logs"]
    assert isinstance(logs, Path)
    spans = trace_spans(logs) | trace_spans(root / "server")
    assert set(spans) >= {r.run_id for r in records}
    assert most_at_once(list(spans.values())) <= 2
    # first in, first out: a run queued earlier (smaller place) never got its slot after a later
    # one. Places count up from the highest place in the queue, so once the queue has emptied
    # they start again: only runs that were waiting at the same time are compared (the earlier
    # one was queued before the later one got its slot).
    queued = [
        (
            note["position"],
            datetime.fromisoformat(note["queued_at"]).timestamp(),
            datetime.fromisoformat(note["started_at"]).timestamp(),
        )
        for note in (r.context.get("concurrency") or {} for r in records)
        if note.get("position") is not None
    ]
    assert len(queued) > RUNS_EACH, "most runs should have waited"
    # (times are read just after the store answered; a thread of a loaded machine may be held up
    # that long before it reads the clock)
    late = [
        (earlier, later)
        for earlier in queued
        for later in queued
        if earlier[0] < later[0] and earlier[1] < later[2] and later[2] < earlier[2] - 1.0
    ]
    assert not late, f"runs overtook earlier ones in the queue (place, queued, started): {late[:5]}"
    assert store.list_leases() == []


SLOW = """
slow:
  type: Workflow
  concurrency: only-one
  jobs:
    work:
      stages:
        - {name: work, bash: "sleep 120"}
quick:
  type: Workflow
  concurrency: only-one
  jobs:
    work:
      stages:
        - {name: work, bash: "true"}
"""


def test_sigkill_of_a_holder_frees_its_slot_within_the_lease_period(shared: dict[str, object]) -> None:
    conf, env, store, root = shared["conf"], shared["env"], shared["store"], shared["root"]
    assert isinstance(conf, Path) and isinstance(env, dict) and isinstance(store, AuditBackend)
    assert isinstance(root, Path)
    (conf / "crowd.yml").write_text(SLOW, encoding="utf-8")
    env = {**env, "RUNWRIGHT_LEASE_SECONDS": str(LEASE_SECONDS)}  # a short lease: the test waits one
    holder = runwright("run", "slow", "--conf", str(conf), env=env, cwd=root)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not store.list(workflow="slow", status=ReleaseStatus.RUNNING):
        time.sleep(0.1)
    (held,) = store.list(workflow="slow", status=ReleaseStatus.RUNNING)
    waiter = runwright("run", "quick", "--conf", str(conf), env=env, cwd=root)
    while time.monotonic() < deadline and not store.list(workflow="quick", status=ReleaseStatus.QUEUED):
        time.sleep(0.1)
    assert store.list(workflow="quick", status=ReleaseStatus.QUEUED), "the second run did not queue"
    os.kill(holder.pid, signal.SIGKILL)
    killed_at = time.monotonic()
    holder.wait(10)
    out, _ = waiter.communicate(timeout=60)
    waited = time.monotonic() - killed_at
    assert waiter.returncode == 0, out
    assert waited < LEASE_SECONDS + 3, f"the waiter started {waited:.1f} s after the kill"
    (after,) = mark_dead_crashed(store, [store.get(held.run_id)])  # type: ignore[list-item]
    assert after.status is ReleaseStatus.CRASHED
    (quick,) = store.list(workflow="quick")
    assert quick.status is ReleaseStatus.SUCCESS
    # the page and the API say what a queued run waits for: here it is done waiting
    assert quick.context["concurrency"]["waiting_for"] == "concurrency group 'only-one' (limit 1)"


def test_audit_list_and_metrics_show_queued_runs(shared: dict[str, object]) -> None:
    conf, env, store, root = shared["conf"], shared["env"], shared["store"], shared["root"]
    assert isinstance(conf, Path) and isinstance(env, dict) and isinstance(store, AuditBackend)
    assert isinstance(root, Path)
    server_env = {k: env[k] for k in ("RUNWRIGHT_AUDIT_URL", "RUNWRIGHT_LOG_PATH")}
    server = start_server(root / "server", env=server_env, conf_text=textwrap.dedent(SLOW))
    try:
        first = server.trigger("slow")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and [lease.run_id for lease in store.list_leases()] != [first]:
            time.sleep(0.05)  # RUNNING is said at the claim; the slot is taken a moment later
        second = server.trigger("quick")
        document = server.wait_status(second, lambda s: s == "QUEUED")
        assert document["status"] == "QUEUED"
        listed = subprocess.run(
            [sys.executable, "-m", "runwright", "audit", "list", "--conf", str(conf)],
            env=env, cwd=root, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert second in listed.stdout and "QUEUED" in listed.stdout, listed.stdout + listed.stderr
        metrics = server.client.get(server.api("/metrics")).text
        assert 'runwright_slots_in_use{kind="group",name="only-one"} 1' in metrics
        assert 'runwright_queue_depth{kind="group",name="only-one"} 1' in metrics
        page = server.client.get(f"{server.url}/runs/{second}").text
        assert "Waiting for" in page and "concurrency group &#39;only-one&#39; (limit 1)" in page
        assert server.client.post(server.api(f"/runs/{first}/cancel")).status_code in (200, 202)
        assert server.wait_status(second, lambda s: s == "SUCCESS", timeout=60)["status"] == "SUCCESS"
    finally:
        stop_server(server)
