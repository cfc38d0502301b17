"""The live tail (SSE) of a run ends by itself: when the run ends, or after SSE_MAX_SECONDS."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import runwright_api.app as api_app
from runwright.audit import ReleaseRecord, ReleaseStatus, make_audit_backend, utc_now
from runwright_api.app import sse_events
from runwright_api.service import RunService


class OpenConnection:
    """The request as the stream sees it: a client that stays connected."""

    async def is_disconnected(self) -> bool:
        return False


def collect(service: RunService, run_id: str) -> list[str]:
    async def read() -> list[str]:
        return [chunk async for chunk in sse_events(service, run_id, OpenConnection())]  # type: ignore[arg-type]

    return asyncio.run(asyncio.wait_for(read(), timeout=20))


@pytest.fixture
def service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RunService:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "w.yml").write_text(
        "w:\n  type: Workflow\n  jobs:\n    j:\n      stages:\n        - {id: s, echo: hi}\n"
    )
    monkeypatch.setenv("RUNWRIGHT_LOG_PATH", str(tmp_path / "logs"))
    audit = make_audit_backend(f"sqlite:///{tmp_path / 'audit.db'}")
    running = RunService(tmp_path / "conf", audit=audit)
    yield running
    running.shutdown(0)


def test_a_stream_of_a_run_still_going_ends_after_its_time_saying_running(
    service: RunService, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = ReleaseRecord(workflow="w", release=utc_now(), run_id="r-live")
    assert service.audit.claim(record)
    service.log_path.mkdir(parents=True, exist_ok=True)
    service.trace_file("r-live").write_text(
        json.dumps({"time": 1.0, "event": "stdout", "message": "tick 1"}) + "\n"
    )
    monkeypatch.setattr(api_app, "SSE_MAX_SECONDS", 0.5)
    chunks = collect(service, "r-live")
    assert chunks[0].startswith("event: log\n") and "tick 1" in chunks[0]
    assert chunks[-1].startswith("event: end\n") and '"status": "RUNNING"' in chunks[-1]


def test_a_stream_ends_when_the_run_ends(service: RunService) -> None:
    record = ReleaseRecord(workflow="w", release=utc_now(), run_id="r-done")
    assert service.audit.claim(record)
    service.audit.update(record.model_copy(update={"status": ReleaseStatus.SUCCESS}))
    chunks = collect(service, "r-done")
    assert chunks == ['event: end\ndata: {"run_id": "r-done", "status": "SUCCESS"}\n\n']
