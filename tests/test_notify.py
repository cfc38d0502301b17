"""``notify:``: a run's end is told to a webhook (Slack-compatible JSON) or by email, once, masked,
retried with back-off, recorded in the run's trace, and never changing or delaying the run.

Real servers on 127.0.0.1: an HTTP receiver started here and aiosmtpd's SMTP server.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import run_cli

SECRET = "hunter2-webhook-S3cret"


class Receiver:
    """An HTTP server that records each POST and answers with the next scripted status."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = list(statuses)
        self.bodies: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length", "0"))
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/T000/B000/XXXX"


@pytest.fixture
def receiver_factory() -> Iterator[Callable[[list[int]], Receiver]]:
    made: list[Receiver] = []

    def make(statuses: list[int]) -> Receiver:
        made.append(Receiver(statuses))
        return made[-1]

    yield make
    for receiver in made:
        receiver.server.shutdown()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def failing_workflow(notify: str) -> str:
    return f"""
    nightly:
      type: Workflow
      notify: {notify}
      jobs:
        load:
          stages:
            - id: check
              bash: 'echo "using $APP_SECRET_VALUE" >&2; exit 4'
              env: {{APP_SECRET_VALUE: "${{APP_SECRET_VALUE}}"}}
    """


def notify_events(trace_dir: Path, run_id: str, timeout: float = 30.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        lines = (trace_dir / f"{run_id}.jsonl").read_text().splitlines()
        events = [event for event in map(json.loads, lines) if event["event"] == "notify"]
        if events or time.monotonic() > deadline:
            return events
        time.sleep(0.1)


def test_a_failed_run_is_posted_once_masked_and_recorded(conf, receiver_factory, isolated_env) -> None:
    receiver = receiver_factory([200])
    folder = conf(failing_workflow(f"[{{when: failure, webhook: '{receiver.url}'}}]"))
    done = run_cli("run", "nightly", "--conf", str(folder), "--json", env={"APP_SECRET_VALUE": SECRET})
    assert done.returncode == 1  # the run's verdict is the run's, not the alert's
    document = json.loads(done.stdout)
    [body] = receiver.bodies  # once: the process waited for the send before it exited
    assert body["workflow"] == "nightly" and body["status"] == "FAILED" and body["run_id"] == document["run_id"]
    assert body["text"].startswith("runwright: nightly FAILED") and "load/check" in body["text"]
    assert SECRET not in json.dumps(body)
    [event] = notify_events(isolated_env, document["run_id"])
    assert event["outcome"] == "sent" and event["target"].startswith("webhook 127.0.0.1:")
    assert "XXXX" not in json.dumps(event)  # the webhook's secret path is not written down


def test_a_failing_endpoint_is_retried_with_back_off_then_sent(conf, receiver_factory, isolated_env) -> None:
    receiver = receiver_factory([500, 503, 200])
    folder = conf(failing_workflow(f"[{{webhook: '{receiver.url}'}}]"))
    done = run_cli("run", "nightly", "--conf", str(folder), "--json", env={"APP_SECRET_VALUE": SECRET})
    assert done.returncode == 1
    assert len(receiver.bodies) == 3
    [event] = notify_events(isolated_env, json.loads(done.stdout)["run_id"])
    assert event["outcome"] == "sent" and event["attempt"] == 3


def test_a_dead_endpoint_never_fails_or_blocks_the_run(conf, isolated_env) -> None:
    unused_port = free_port()  # nobody listens there
    folder = conf(f"""
    fine:
      type: Workflow
      notify: [{{when: always, webhook: 'http://127.0.0.1:{unused_port}/nobody-here'}}]
      jobs: {{j: {{stages: [{{id: s, echo: hi}}]}}}}
    """)
    done = run_cli("run", "fine", "--conf", str(folder), "--json", env={"RUNWRIGHT_NOTIFY_WAIT": "20"})
    assert done.returncode == 0 and json.loads(done.stdout)["status"] == "SUCCESS"
    [event] = notify_events(isolated_env, json.loads(done.stdout)["run_id"])
    assert event["outcome"] == "failed" and "could not notify webhook 127.0.0.1" in event["message"]


def test_when_decides_which_runs_are_told(conf, receiver_factory) -> None:
    on_success, on_failure = receiver_factory([]), receiver_factory([])
    folder = conf(
        f"""
    ok:
      type: Workflow
      notify: [{{when: success, webhook: '{on_success.url}'}}, {{when: failure, webhook: '{on_failure.url}'}}]
      jobs: {{j: {{stages: [{{id: s, echo: hi}}]}}}}
    """
    )
    assert run_cli("run", "ok", "--conf", str(folder)).returncode == 0
    assert [body["status"] for body in on_success.bodies] == ["SUCCESS"]
    assert on_failure.bodies == []


def test_a_failed_run_is_mailed_over_smtp(conf, isolated_env) -> None:
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Sink

    received: list[tuple[list[str], str]] = []

    class Collect(Sink):
        async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
            received.append((list(envelope.rcpt_tos), envelope.content.decode()))
            return "250 OK"

    port = free_port()
    controller = Controller(Collect(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        folder = conf(failing_workflow(f"[{{email: [ops@example.com], smtp: '127.0.0.1:{port}', from: rw@example.com}}]"))
        done = run_cli("run", "nightly", "--conf", str(folder), "--json", env={"APP_SECRET_VALUE": SECRET})
    finally:
        controller.stop()
    assert done.returncode == 1
    [(recipients, content)] = received
    assert recipients == ["ops@example.com"]
    assert "Subject: [runwright] nightly FAILED" in content and "From: rw@example.com" in content
    assert SECRET not in content


def test_notify_entries_are_checked(conf) -> None:
    folder = conf(
        """
    bad:
      type: Workflow
      notify: [{when: sometimes, webhook: 'ftp://x'}, {email: [a@b.c], webhook: 'https://x.example/h'}]
      jobs: {j: {stages: [{id: s, echo: hi}]}}
    """
    )
    done = run_cli("validate", str(folder))
    assert done.returncode == 2
    assert "notify" in done.stdout and "when" in done.stdout and "exactly one of 'webhook' or 'email'" in done.stdout
