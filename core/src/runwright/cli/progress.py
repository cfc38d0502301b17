"""Live progress of a run: what the stages print, and one line per job with its stages' states.

Lines the stages print (echo messages, stdout/stderr of bash and Python stages) stream as they
come, prefixed by ``job/stage`` as GitHub Actions' log view does. On a terminal the job board is a
rich live display under them; otherwise plain lines as stages and jobs finish. Events reach here
already masked by the trace.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:  # rich is imported only when a terminal shows the live board
    from rich.live import Live
    from rich.text import Text

STYLES = {
    "SUCCESS": "green",
    "FAILED": "bold red",
    "SKIP": "yellow",
    "CANCEL": "magenta",
    "RUNNING": "cyan",
}
MARKS = {"SUCCESS": "✓", "FAILED": "✗", "SKIP": "-", "CANCEL": "⊘", "RUNNING": "…"}
#: Trace events that carry what a stage printed.
OUTPUT_EVENTS = frozenset({"echo", "stdout", "stderr", "log"})


def output_line(event: dict[str, Any]) -> str | None:
    """``job/stage | message`` for an event that carries stage output, else None."""
    if event.get("event") not in OUTPUT_EVENTS:
        return None
    where = "/".join(str(event[k]) for k in ("job", "strategy", "stage") if event.get(k))
    return f"{where} | {event.get('message', '')}"


def outcome_note(entry: dict[str, Any]) -> str:
    """`` (failed, continue-on-error)`` for a stage or job whose failure did not fail its parent."""
    return " (failed, continue-on-error)" if entry.get("outcome") == "FAILED" else ""


class ProgressBoard:
    """Collects trace events into job -> stage -> status."""

    def __init__(self) -> None:
        self.jobs: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()

    def update(self, event: dict[str, Any]) -> None:
        kind, job = event.get("event"), event.get("job")
        if not job:
            return
        with self.lock:
            entry = self.jobs.setdefault(job, {"status": "RUNNING", "stages": {}})
            stage = event.get("stage")
            if event.get("strategy"):
                stage = f"[{event['strategy']}] {stage}" if stage else None
            if kind == "stage-start" and stage:
                entry["stages"][stage] = "RUNNING"
            elif kind in ("stage-end", "stage-reused") and stage:
                entry["stages"][stage] = event.get("status", "SUCCESS")
            elif kind in ("job-end", "job-reused"):
                entry["status"] = event.get("status", "SUCCESS")

    def render(self) -> Text:
        from rich.text import Text

        text = Text()
        with self.lock:
            for job, entry in self.jobs.items():
                status = entry["status"]
                text.append(f"{MARKS.get(status, '?')} {job}", style=STYLES.get(status, ""))
                shown = list(entry["stages"].items())
                for stage, state in shown[-12:]:
                    text.append("  ")
                    text.append(f"{MARKS.get(state, '?')} {stage}", style=STYLES.get(state, ""))
                if len(shown) > 12:
                    text.append(f"  (+{len(shown) - 12} more)")
                text.append("\n")
        return text


class Progress:
    """Context manager giving an observer for ``run_workflow(observer=...)``."""

    def __init__(self, stream: TextIO | None = None, enabled: bool = True) -> None:
        self.stream = stream or sys.stdout
        self.enabled = enabled
        self.board = ProgressBoard()
        self.live: Live | None = None

    @property
    def interactive(self) -> bool:
        return self.enabled and self.stream.isatty()

    def __enter__(self) -> Callable[[dict[str, Any]], None] | None:
        if not self.enabled:
            return None
        if self.interactive:
            from rich.console import Console
            from rich.live import Live

            console = Console(file=self.stream)
            self.live = Live(self.board.render(), console=console, refresh_per_second=8, transient=True)
            self.live.__enter__()
            return self._live_update
        return self._plain_update

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.update(self.board.render())
            self.live.__exit__(None, None, None)

    def _live_update(self, event: dict[str, Any]) -> None:
        self.board.update(event)
        if self.live is not None:
            line = output_line(event)
            if line is not None:  # printed above the board, which stays at the bottom
                self.live.console.print(line, markup=False, highlight=False, soft_wrap=True)
            self.live.update(self.board.render())

    def _plain_update(self, event: dict[str, Any]) -> None:
        line = output_line(event)
        if line is not None:
            self.stream.write(line + "\n")
            self.stream.flush()
            return
        kind = event.get("event")
        if kind in ("stage-end", "stage-reused", "job-end", "job-reused"):
            where = "/".join(str(event[k]) for k in ("job", "strategy", "stage") if event.get(k))
            status = event.get("status", "SUCCESS")
            label = "job" if kind.startswith("job") else "stage"
            suffix = " (reused)" if kind.endswith("reused") else outcome_note(event)
            self.stream.write(f"{label} {where}: {status}{suffix}\n")
            self.stream.flush()
