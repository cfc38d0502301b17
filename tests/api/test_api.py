"""The HTTP API against a real ``runwright serve`` on 127.0.0.1."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import httpx

from tests.api.conftest import SECRET_VALUE, WORKER_MODES, Server, start_server, stop_server


def test_healthz_and_workflow_list(server: Server) -> None:
    assert server.client.get(server.api("/healthz")).json()["status"] == "ok"
    workflows = {w["name"]: w for w in server.client.get(server.api("/workflows")).json()}
    assert {"hello", "flaky", "slow", "quick", "fanout"} <= set(workflows)
    params = {p["name"]: p for p in workflows["hello"]["params"]}
    assert params["name"] == {"name": "name", "type": "str", "required": True, "default": None, "desc": None, "options": None}
    assert params["times"]["default"] == 1 and params["times"]["required"] is False
    assert params["colour"]["options"] == ["red", "green", "blue"]
    assert workflows["hello"]["description"] == "Greets someone a number of times."
    assert workflows["hello"]["schedules"] == [{"cronjob": "0 6 * * *", "timezone": "Europe/Paris"}]
    next_tick = datetime.fromisoformat(workflows["hello"]["next_tick"])
    assert next_tick > datetime.now(UTC) and next_tick.astimezone(ZoneInfo("Europe/Paris")).hour == 6
    assert workflows["quick"]["next_tick"] is None


def test_workflow_detail_has_template_and_unknown_is_404(server: Server) -> None:
    detail = server.client.get(server.api("/workflows/hello")).json()
    assert detail["template"]["jobs"]["after"]["needs"] == ["greet"]
    assert detail["problems"] == []
    missing = server.client.get(server.api("/workflows/nope"))
    assert missing.status_code == 404
    assert missing.json()["error"] == "not found" and "hello" in missing.json()["detail"]


def test_trigger_answers_at_once_then_run_succeeds_with_outputs(server: Server) -> None:
    response = server.client.post(server.api("/workflows/slow/runs"), json={"params": {"seconds": 5}})
    assert response.status_code == 202  # the 5 s run is still going
    slow_id = response.json()["run_id"]
    assert server.client.get(server.api(f"/runs/{slow_id}")).json()["status"] == "RUNNING"
    run_id = server.trigger("hello", {"name": "ada", "times": "3"})
    document = server.wait_status(run_id)
    assert document["status"] == "SUCCESS"
    assert document["params"]["times"] == 3
    stage = document["context"]["jobs"]["greet"]["stages"]["say"]
    assert stage["outputs"]["greeting"] == "hi-ada"
    assert document["duration_seconds"] >= 0 and document["ended"] is not None
    server.client.post(server.api(f"/runs/{slow_id}/cancel"))
    assert server.wait_status(slow_id)["status"] == "CANCEL"


def test_bad_params_are_422_with_the_cli_message(server: Server) -> None:
    missing = server.client.post(server.api("/workflows/hello/runs"), json={"params": {}})
    assert missing.status_code == 422
    assert missing.json() == {
        "error": "invalid params",
        "detail": "workflow 'hello': param 'name' is required (a str value) but was not given",
    } or "param 'name'" in missing.json()["detail"]
    wrong = server.client.post(server.api("/workflows/hello/runs"), json={"params": {"name": "x", "times": "many"}})
    assert wrong.status_code == 422 and "param 'times'" in wrong.json()["detail"]
    choice = server.client.post(server.api("/workflows/hello/runs"), json={"params": {"name": "x", "colour": "pink"}})
    assert choice.status_code == 422 and "colour" in choice.json()["detail"]
    shape = server.client.post(server.api("/workflows/hello/runs"), json={"params": "not a mapping"})
    assert shape.status_code == 422 and shape.json()["error"] == "invalid request"
    assert isinstance(shape.json()["detail"], list)
    broken = server.client.post(
        server.api("/workflows/hello/runs"), content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert broken.status_code == 422 and "Traceback" not in broken.text


def test_cancel_a_long_run_records_cancel_and_second_cancel_conflicts(server: Server) -> None:
    run_id = server.trigger("slow", {"seconds": 60})
    assert server.wait_status(run_id, lambda s: True)["status"] == "RUNNING"
    started = time.monotonic()
    response = server.client.post(server.api(f"/runs/{run_id}/cancel"))
    assert response.status_code == 202
    document = server.wait_status(run_id)
    assert document["status"] == "CANCEL"
    assert time.monotonic() - started < 30  # the 60 s sleep was stopped
    again = server.client.post(server.api(f"/runs/{run_id}/cancel"))
    assert again.status_code == 409 and "already ended: CANCEL" in again.json()["detail"]


def test_rerun_reuses_what_succeeded_and_runs_what_failed(server: Server) -> None:
    marker = server.root / "marker"
    run_id = server.trigger("flaky", {"marker": str(marker)})
    failed = server.wait_status(run_id)
    assert failed["status"] == "FAILED"
    assert any("exit" in e["message"] or "3" in e["message"] for e in failed["errors"])
    marker.write_text("now")
    response = server.client.post(server.api(f"/runs/{run_id}/rerun"))
    assert response.status_code == 202
    rerun_id = response.json()["run_id"]
    assert rerun_id != run_id
    rerun = server.wait_status(rerun_id)
    assert rerun["status"] == "SUCCESS"
    assert rerun["parent_run_id"] == run_id and rerun["type"] == "rerun" and rerun["attempt"] == 2
    assert rerun["context"]["jobs"]["first"].get("reused") is True


def test_concurrent_reruns_of_one_run_start_one_attempt(server: Server) -> None:
    """The rerun claim is one compare-and-set in the store: racing reruns start exactly one."""
    import concurrent.futures

    run_id = server.trigger("slow", {"seconds": 60})
    server.client.post(server.api(f"/runs/{run_id}/cancel"))
    assert server.wait_status(run_id)["status"] == "CANCEL"
    with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(lambda _: server.client.post(server.api(f"/runs/{run_id}/rerun")), range(6)))
    codes = sorted(a.status_code for a in answers)
    assert codes == [202, 409, 409, 409, 409, 409], [a.text for a in answers]
    assert all("RUNNING" in a.json()["detail"] for a in answers if a.status_code == 409)
    started = next(a.json()["run_id"] for a in answers if a.status_code == 202)
    server.client.post(server.api(f"/runs/{started}/cancel"))
    assert server.wait_status(started)["status"] == "CANCEL"


def test_rerun_reads_a_secret_param_again_never_the_mask(server: Server) -> None:
    marker = server.root / "keyed-marker"
    run_id = server.trigger("keyed", {"marker": str(marker)})
    failed = server.wait_status(run_id)
    assert failed["status"] == "FAILED" and failed["params"]["key"] == "***"
    marker.write_text("now")
    response = server.client.post(server.api(f"/runs/{run_id}/rerun"))
    assert response.status_code == 202, response.text
    assert server.wait_status(response.json()["run_id"])["status"] == "SUCCESS"  # the real key, not '***'


def test_release_params_from_the_api_are_data(server: Server) -> None:
    response = server.client.post(
        server.api("/workflows/hello/releases"),
        json={"logical_date": "2024-03-01T06:00:00+01:00", "mode": "force", "params": {"name": "${{ 7*7 }}"}},
    )
    assert response.status_code in (200, 202), response.text
    run_id = response.json().get("run_id")
    document = server.wait_status(run_id)
    assert document["params"]["name"] == "${{ 7*7 }}"


def test_rerun_of_a_running_run_is_409(server: Server) -> None:
    run_id = server.trigger("slow", {"seconds": 60})
    response = server.client.post(server.api(f"/runs/{run_id}/rerun"))
    assert response.status_code == 409 and "still RUNNING" in response.json()["detail"]
    server.client.post(server.api(f"/runs/{run_id}/cancel"))
    assert server.wait_status(run_id)["status"] == "CANCEL"


def test_logs_are_json_lines_after_the_run(server: Server) -> None:
    run_id = server.trigger("hello", {"name": "bob"})
    server.wait_status(run_id)
    response = server.client.get(server.api(f"/runs/{run_id}/logs"))
    assert response.headers["content-type"].startswith("application/x-ndjson")
    events = [json.loads(line) for line in response.text.splitlines()]
    assert events[0]["event"] == "run-start" and events[-1]["event"] == "run-end"
    assert any("hello bob x1" in e.get("message", "") for e in events)


def test_logs_stream_as_server_sent_events_while_running(server: Server) -> None:
    run_id = server.trigger("slow", {"seconds": 3})
    received: list[tuple[str, dict]] = []
    with server.client.stream("GET", server.api(f"/runs/{run_id}/logs")) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        kind = ""
        for line in response.iter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                received.append((kind, json.loads(line[6:])))
    kinds = [k for k, _ in received]
    assert kinds[-1] == "end" and received[-1][1]["status"] == "SUCCESS"
    messages = [d.get("message", "") for k, d in received if k == "log"]
    assert "napping" in messages
    assert [d["event"] for k, d in received if k == "log"][-1] == "run-end"


def test_unknown_run_is_404_json(server: Server) -> None:
    for path in ("/runs/20990101T000000-nope", "/runs/x/logs"):
        response = server.client.get(server.api(path))
        assert response.status_code == 404 and response.json()["error"] == "not found"
    response = server.client.post(server.api("/runs/unknown/cancel"))
    assert response.status_code == 404


def test_audits_page_through_every_run_once(tmp_path) -> None:
    running = start_server(tmp_path)
    try:
        ids = [running.trigger("quick") for _ in range(7)]
        for run_id in ids:
            running.wait_status(run_id)
        seen: list[str] = []
        started: list[str] = []
        cursor = None
        pages = 0
        while pages < 10:
            query = {"limit": 3, "workflow": "quick", **({"cursor": cursor} if cursor else {})}
            page = running.client.get(running.api("/audits"), params=query).json()
            seen += [item["run_id"] for item in page["items"]]
            started += [item["started"] for item in page["items"]]
            pages += 1
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert pages == 3
        assert sorted(seen) == sorted(ids) and len(seen) == len(set(seen))
        assert started == sorted(started, reverse=True)  # newest first
        failed = running.client.get(running.api("/audits"), params={"status": "FAILED"}).json()
        assert failed["items"] == []
        bad = running.client.get(running.api("/audits"), params={"cursor": "garbage"})
        assert bad.status_code == 422
    finally:
        stop_server(running)


@WORKER_MODES
def test_fifty_concurrent_triggers_are_each_recorded_once(tmp_path, workers: int) -> None:
    running = start_server(tmp_path, extra_args=("--workers", str(workers)))
    try:
        with httpx.Client(timeout=60, headers=running.client.headers) as client, ThreadPoolExecutor(50) as pool:
            barrier = threading.Barrier(50)

            def trigger(_: int) -> httpx.Response:
                barrier.wait(timeout=30)
                return client.post(running.api("/workflows/quick/runs"), json={"params": {}})

            responses = list(pool.map(trigger, range(50)))
        assert [r.status_code for r in responses] == [202] * 50
        ids = [r.json()["run_id"] for r in responses]
        assert len(set(ids)) == 50
        for run_id in ids:
            assert running.wait_status(run_id)["status"] == "SUCCESS"
        records = running.client.get(running.api("/audits"), params={"limit": 500}).json()["items"]
        assert sorted(r["run_id"] for r in records) == sorted(ids)
        assert sorted((r["release"], r["attempt"]) for r in records) == sorted({(r["release"], r["attempt"]) for r in records})
        metrics = running.client.get(running.api("/metrics")).text
        assert 'runwright_runs_total{status="SUCCESS"} 50' in metrics
        assert "runwright_run_duration_seconds_count 50" in metrics
        assert "runwright_active_runs 0" in metrics
    finally:
        stop_server(running)


def test_releases_normal_once_force_again_and_dryrun(server: Server) -> None:
    body = {"logical_date": "2024-03-01T00:00:00+00:00", "params": {"name": "rel"}}
    first = server.client.post(server.api("/workflows/hello/releases"), json=body)
    assert first.status_code == 202 and first.json()["ran"] is True
    assert server.wait_status(first.json()["run_id"])["status"] == "SUCCESS"
    again = server.client.post(server.api("/workflows/hello/releases"), json=body)
    assert again.status_code == 200 and again.json()["ran"] is False
    assert "already released" in again.json()["reason"]
    forced = server.client.post(server.api("/workflows/hello/releases"), json={**body, "mode": "force"})
    assert forced.status_code == 202
    assert server.wait_status(forced.json()["run_id"])["attempt"] == 2
    dry = server.client.post(server.api("/workflows/hello/releases"), json={**body, "mode": "dryrun"})
    assert dry.status_code == 200 and dry.json()["status"] == "SUCCESS" and dry.json()["checks"]
    bad = server.client.post(server.api("/workflows/hello/releases"), json={**body, "mode": "sometimes"})
    assert bad.status_code == 422


def test_secrets_are_masked_in_every_response(server: Server) -> None:
    run_id = server.trigger("secretive")
    document = server.wait_status(run_id)
    assert document["status"] == "SUCCESS"
    logs = server.client.get(server.api(f"/runs/{run_id}/logs")).text
    assert "the key is ***" in logs
    for path in (f"/runs/{run_id}", f"/runs/{run_id}/logs", "/audits", "/workflows/secretive"):
        assert SECRET_VALUE not in server.client.get(server.api(path)).text
    assert SECRET_VALUE not in server.client.get(f"{server.url}/runs/{run_id}").text


def test_body_size_is_limited(server: Server) -> None:
    big = {"params": {"name": "x" * 100_000}}
    response = server.client.post(server.api("/workflows/hello/runs"), json=big)
    assert response.status_code == 413 and response.json()["error"] == "request body too large"


def test_metrics_are_prometheus_text(server: Server) -> None:
    response = server.client.get(server.api("/metrics"))
    assert response.headers["content-type"].startswith("text/plain")
    assert "# TYPE runwright_run_duration_seconds histogram" in response.text
    assert 'runwright_run_duration_seconds_bucket{le="+Inf"}' in response.text
    assert "# TYPE runwright_active_runs gauge" in response.text


def test_token_required_when_set_and_constant_answers(secured: Server) -> None:
    anonymous = httpx.Client(timeout=10)
    assert anonymous.get(secured.api("/healthz")).status_code == 200
    for path in ("/workflows", "/audits", "/metrics"):
        refused = anonymous.get(secured.api(path))
        assert refused.status_code == 401 and refused.json()["error"] == "unauthorized"
    assert anonymous.get(f"{secured.url}/openapi.json").status_code == 401
    wrong = anonymous.get(secured.api("/workflows"), headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert secured.client.get(secured.api("/workflows")).status_code == 200
    page = anonymous.get(f"{secured.url}/runs", headers={"Accept": "text/html"}, follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/login")
    failed = anonymous.post(f"{secured.url}/login", data={"token": "nope", "next": "/runs"}, follow_redirects=False)
    assert failed.status_code == 401
    login = anonymous.post(f"{secured.url}/login", data={"token": secured.token, "next": "/runs"}, follow_redirects=False)
    assert login.status_code == 303 and login.headers["location"] == "/runs"
    assert anonymous.get(f"{secured.url}/runs").status_code == 200  # the session cookie now
    assert anonymous.get(secured.api("/workflows")).status_code == 200
    anonymous.close()


def test_a_forged_session_cookie_is_refused(secured: Server) -> None:
    other_token = hmac.new(b"not-the-token", b"runwright-session", hashlib.sha256).hexdigest()
    for forged in ("forged", "1", other_token):
        with httpx.Client(timeout=10, cookies={"runwright_session": forged}) as client:
            refused = client.get(secured.api("/workflows"))
            assert refused.status_code == 401, forged
            assert refused.json()["error"] == "unauthorized"
            page = client.get(f"{secured.url}/runs", headers={"Accept": "text/html"}, follow_redirects=False)
            assert page.status_code == 303 and page.headers["location"].startswith("/login"), forged


def test_serve_refuses_a_public_host_without_token(tmp_path) -> None:
    from tests.conftest import run_cli

    result = run_cli("serve", "--host", "0.0.0.0", "--port", "0", env={"RUNWRIGHT_API_TOKEN": ""})
    assert result.returncode == 2
    assert "refusing to listen on non-loopback host '0.0.0.0' without RUNWRIGHT_API_TOKEN" in result.stderr


@WORKER_MODES
def test_sigterm_cancels_in_flight_runs_and_records_them(tmp_path, workers: int) -> None:
    running = start_server(tmp_path, extra_args=("--workers", str(workers)))  # grace period 2 s
    run_id = running.trigger("slow", {"seconds": 120})
    assert running.wait_status(run_id, lambda s: True)["status"] == "RUNNING"
    client = httpx.Client(timeout=10)
    assert stop_server(running) in (0, -15)  # uvicorn re-raises SIGTERM after its graceful stop
    from runwright.audit import make_audit_backend

    record = make_audit_backend(f"file://{tmp_path / 'audits'}").get(run_id)
    assert record is not None and record.status.value == "CANCEL"
    client.close()


def test_scheduler_in_process_reports_its_lag_and_stops_with_the_server(tmp_path) -> None:
    running = start_server(tmp_path, extra_args=("--scheduler",))
    try:
        metrics = running.client.get(running.api("/metrics")).text
        lag = [line for line in metrics.splitlines() if line.startswith("runwright_scheduler_lag_seconds ")]
        assert len(lag) == 1 and float(lag[0].split()[1]) >= 0
        assert running.client.get(running.api("/healthz")).json()["status"] == "ok"
    finally:
        assert stop_server(running) in (0, -15)


def test_loading_plugins_does_not_import_the_web_stack() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from runwright.plugins import get_plugin_manager; pm = get_plugin_manager(); "
        "assert pm.get_plugin('api') is not None, 'runwright-api not loaded'; "
        "heavy = [m for m in ('fastapi', 'uvicorn', 'starlette') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
