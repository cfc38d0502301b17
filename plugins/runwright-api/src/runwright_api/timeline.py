"""A run's timeline (Gantt) as an SVG drawn on the server, from its trace's start and end times.

One row per job, then per strategy of a matrix job (in the matrix's order, not the order they
finished), then per stage; a reused stage is a marker labelled "reused".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from typing import Any

from runwright_api.dag import STATUS_COLOURS

LABEL_WIDTH = 230
CHART_WIDTH = 620
ROW_HEIGHT = 22
TOP = 26


@dataclass
class Span:
    """One bar: a job, a strategy or a stage, from its first start to its last end."""

    label: str
    level: int  # 0 job, 1 strategy, 2 stage (3: a stage of a strategy)
    start: float | None = None
    end: float | None = None
    status: str = "RUNNING"
    reused: bool = False
    children: dict[str, Span] = field(default_factory=dict)

    def widen(self, moment: float) -> None:
        self.start = moment if self.start is None else min(self.start, moment)
        self.end = moment if self.end is None else max(self.end, moment)


def build_spans(
    events: list[dict[str, Any]],
    job_order: list[str],
    strategy_order: dict[str, list[str]],
    run_status: str,
) -> list[Span]:
    """The rows' spans, jobs in ``job_order`` (then any others), strategies in
    ``strategy_order``; whatever is still RUNNING in a finished run takes the run's status."""
    jobs: dict[str, Span] = {job: Span(job, 0, status="WAITING") for job in job_order}
    for event in events:
        job_id = event.get("job")
        if not job_id:
            continue
        moment = float(event.get("time", 0))
        kind = event.get("event", "")
        job = jobs.setdefault(job_id, Span(job_id, 0, status="WAITING"))
        if kind in ("job-start", "job-end", "job-reused") or event.get("stage"):
            job.widen(moment)
        if kind == "job-start":
            job.status = "RUNNING"
        elif kind in ("job-end", "job-reused"):
            job.status = str(event.get("status", job.status))
            job.reused = kind == "job-reused"
        stage_id = event.get("stage")
        if not stage_id:
            continue
        parent = job
        strategy = event.get("strategy")
        if strategy:
            parent = job.children.setdefault(f"strategy:{strategy}", Span(str(strategy), 1))
            parent.widen(moment)
        stage = parent.children.setdefault(str(stage_id), Span(str(stage_id), parent.level + 1))
        if kind == "stage-start":
            stage.widen(moment)
        elif kind == "stage-end":
            stage.widen(moment)
            if stage.start is not None and event.get("seconds") is not None:
                stage.start = min(stage.start, moment - float(event["seconds"]))
            stage.status = str(event.get("status", "SUCCESS"))
        elif kind == "stage-reused":
            stage.widen(moment)
            stage.status, stage.reused = "SUCCESS", True
    for job_id, job in jobs.items():
        order = {f"strategy:{sid}": index for index, sid in enumerate(strategy_order.get(job_id, []))}
        strategies = sorted(
            (key for key in job.children if key.startswith("strategy:")),
            key=lambda key: (order.get(key, len(order)), key),
        )
        job.children = {
            **{key: job.children[key] for key in strategies},
            **{key: span for key, span in job.children.items() if key not in order and key not in strategies},
        }
        for key in strategies:
            strategy = job.children[key]
            statuses = [stage.status for stage in strategy.children.values()]
            strategy.status = next(
                (s for s in ("FAILED", "CRASHED", "RUNNING", "CANCEL") if s in statuses), "SUCCESS"
            )
            strategy.reused = bool(statuses) and all(stage.reused for stage in strategy.children.values())
    if run_status != "RUNNING":
        for span in walk(list(jobs.values())):
            if span.status in ("RUNNING", "WAITING"):
                span.status = (
                    "CANCEL" if run_status == "CANCEL" else ("SKIP" if span.level == 0 else run_status)
                )
    return list(jobs.values())


def walk(spans: list[Span]) -> list[Span]:
    """Every span, each followed by its children (the rows in drawing order)."""
    rows: list[Span] = []
    for span in spans:
        rows.append(span)
        rows.extend(walk(list(span.children.values())))
    return rows


def timeline_svg(spans: list[Span], now: float | None = None) -> str:
    """The SVG (empty when nothing started yet)."""
    rows = walk(spans)
    moments = [m for span in rows for m in (span.start, span.end) if m is not None]
    if not moments:
        return ""
    first = min(moments)
    last = max([*moments, now or 0.0]) if now else max(moments)
    total = max(last - first, 0.001)
    width = LABEL_WIDTH + CHART_WIDTH + 30  # room for the last tick's label
    height = TOP + len(rows) * ROW_HEIGHT + 6

    def x(moment: float) -> float:
        return LABEL_WIDTH + CHART_WIDTH * (moment - first) / total

    described = "; ".join(
        f"{span.label}: {span.status}{', reused' if span.reused else ''}"
        + (f", {span.end - span.start:.2f} s" if span.start is not None and span.end is not None else "")
        for span in rows
        if span.level == 0
    )
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-labelledby="timeline-title timeline-desc">',
        '<title id="timeline-title">Timeline of the run</title>',
        f'<desc id="timeline-desc">{escape(described)}</desc>',
    ]
    for fraction in (0, 0.25, 0.5, 0.75, 1):
        tick_x = LABEL_WIDTH + CHART_WIDTH * fraction
        parts.append(
            f'<line x1="{tick_x:.1f}" y1="{TOP - 6}" x2="{tick_x:.1f}" y2="{height - 4}" class="grid-line"/>'
            f'<text x="{tick_x:.1f}" y="{TOP - 10}" text-anchor="middle" class="tick">'
            f"{total * fraction:.1f} s</text>"
        )
    for index, span in enumerate(rows):
        y = TOP + index * ROW_HEIGHT
        indent = 8 + 14 * span.level
        label = span.label if len(span.label) <= 26 else span.label[:25] + "…"
        parts.append(
            f'<g class="span level-{span.level}" data-status="{escape(span.status)}"'
            f' data-label="{escape(span.label)}" data-level="{span.level}">'
            f'<text x="{indent}" y="{y + 15}" class="label{" strong" if span.level == 0 else ""}">'
            f"{escape(label)}</text>"
        )
        fill, stroke = STATUS_COLOURS.get(span.status, STATUS_COLOURS["WAITING"])
        if span.start is not None:
            start, end = x(span.start), x(span.end if span.end is not None else span.start)
            if span.status == "RUNNING" and now:
                end = x(now)
            bar = max(end - start, 3.0)
            parts.append(
                f'<rect x="{start:.1f}" y="{y + 4}" width="{bar:.1f}" height="{ROW_HEIGHT - 8}" rx="3" '
                f'fill="{fill}" stroke="{stroke}"><title>{escape(span.label)}: {escape(span.status)}'
                + (
                    f", {span.end - span.start:.3f} s"
                    if span.end is not None and span.status != "RUNNING"
                    else ""
                )
                + (", reused" if span.reused else "")
                + "</title></rect>"
            )
            if span.reused:
                parts.append(f'<text x="{start + bar + 4:.1f}" y="{y + 15}" class="reused">reused</text>')
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)
