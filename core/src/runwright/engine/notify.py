"""The built-in ``run_finished`` plugin: tells a workflow's ``notify:`` targets how a run ended.

Each target is sent from a thread of its own, so a slow or dead endpoint never delays the run; a
send is tried up to :data:`ATTEMPTS` times with a doubling back-off. What is sent is masked like
the trace, and each send's outcome is appended to the run's trace (``notify`` events). A process
that exits waits for sends still going, up to ``RUNWRIGHT_NOTIFY_WAIT`` seconds (default 30), so a
short ``runwright run`` does not drop its alert.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
from pathlib import Path
from typing import Any

from runwright.hookspecs import hookimpl
from runwright.masking import mask
from runwright.trace import RunTrace

ATTEMPTS = 4
FIRST_DELAY_SECONDS = 0.5
SEND_TIMEOUT_SECONDS = 10.0
DEFAULT_SMTP = "localhost:25"
DEFAULT_EXIT_WAIT_SECONDS = 30.0

_pending: set[threading.Thread] = set()
_pending_lock = threading.Lock()
_exit_wait_registered = False


@hookimpl
def run_finished(workflow: Any, result: Any) -> None:
    targets = [target for target in getattr(workflow, "notify", ()) if target.wants(result.status.value)]
    if not targets:
        return
    message = mask(run_summary(result))  # masked before it leaves the process
    trace_file = Path(result.log_file) if result.log_file else None
    for target in targets:
        thread = threading.Thread(
            target=_deliver, args=(target, message, result, trace_file), name="runwright-notify", daemon=True
        )
        with _pending_lock:
            _pending.add(thread)
        _wait_at_exit()
        thread.start()


def run_summary(result: Any) -> dict[str, Any]:
    """The JSON a webhook receives; ``text`` is what Slack (and compatible chats) show."""
    status = result.status.value
    seconds = (result.ended - result.started).total_seconds() if result.ended and result.started else None
    lines = [f"runwright: {result.workflow} {status} (run {result.run_id})"]
    for error in result.errors[:10]:
        where = "/".join(str(error[k]) for k in ("job", "stage") if error.get(k)) or "run"
        lines.append(f"- {where}: {error.get('name')}: {error.get('message')}")
    return {
        "text": "\n".join(lines),
        "workflow": result.workflow,
        "run_id": result.run_id,
        "status": status,
        "started": result.started.isoformat() if result.started else None,
        "ended": result.ended.isoformat() if result.ended else None,
        "seconds": seconds,
        "errors": result.errors[:10],
    }


def _deliver(target: Any, message: dict[str, Any], result: Any, trace_file: Path | None) -> None:
    where = target_label(target)
    delay = FIRST_DELAY_SECONDS
    problem = ""
    try:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                if target.webhook is not None:
                    _post_json(target.webhook, message)
                else:
                    _send_mail(target, message)
            except Exception as exc:  # any failure: try again, then record it; never raise
                problem = f"{type(exc).__name__}: {exc}"
                if attempt < ATTEMPTS:
                    time.sleep(delay)
                    delay *= 2
                continue
            _record(result, trace_file, "sent", f"notified {where}", attempt=attempt, target=where)
            return
        _record(
            result,
            trace_file,
            "failed",
            f"could not notify {where}: {problem}",
            attempts=ATTEMPTS,
            target=where,
        )
    finally:
        with _pending_lock:
            _pending.discard(threading.current_thread())


def target_label(target: Any) -> str:
    """Where a target sends, without a webhook URL's path or query (they often hold its secret)."""
    if target.webhook is not None:
        from urllib.parse import urlsplit

        return f"webhook {urlsplit(target.webhook).netloc}"
    return f"email {', '.join(target.email)}"


def _post_json(url: str, message: dict[str, Any]) -> None:
    import json
    import urllib.request

    body = json.dumps(message, default=str).encode()
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=SEND_TIMEOUT_SECONDS) as response:  # noqa: S310 - http(s) only
        response.read()


def _send_mail(target: Any, message: dict[str, Any]) -> None:
    import smtplib
    from email.message import EmailMessage

    host, _, port = (target.smtp or os.environ.get("RUNWRIGHT_SMTP") or DEFAULT_SMTP).partition(":")
    mail = EmailMessage()
    mail["Subject"] = f"[runwright] {message['workflow']} {message['status']}"
    mail["From"] = target.sender
    mail["To"] = ", ".join(target.email)
    mail.set_content(message["text"])
    with smtplib.SMTP(host, int(port or 25), timeout=SEND_TIMEOUT_SECONDS) as server:
        server.send_message(mail)


def _record(result: Any, trace_file: Path | None, outcome: str, text: str, **extra: Any) -> None:
    """Append the send's outcome to the run's trace (already closed by the run)."""
    if trace_file is None:
        return
    trace = RunTrace(result.run_id, result.workflow, result.parent_run_id, trace_file.parent)
    try:
        trace.event("notify", text, outcome=outcome, **extra)
    finally:
        trace.close()


def _wait_at_exit() -> None:
    global _exit_wait_registered
    if not _exit_wait_registered:
        _exit_wait_registered = True
        atexit.register(wait_for_pending)


def wait_for_pending(timeout: float | None = None) -> None:
    """Wait (bounded) for sends still going: the process is about to exit."""
    limit = (
        timeout
        if timeout is not None
        else float(os.environ.get("RUNWRIGHT_NOTIFY_WAIT", DEFAULT_EXIT_WAIT_SECONDS))
    )
    deadline = time.monotonic() + limit
    with _pending_lock:
        threads = list(_pending)
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
