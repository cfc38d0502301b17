"""A workflow's history: the grid of its last runs by job and stage (Airflow's grid view), the
trend of their durations (an SVG drawn on the server) and its next ticks."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from html import escape
from typing import Any

from runwright.audit import ReleaseRecord
from runwright.models.workflow import Workflow
from runwright.schedule.cron import next_tick

from runwright_api.dag import STATUS_COLOURS

HISTORY_RUNS = 25
TREND_RUNS = 50
NEXT_TICKS = 5
# which status a row shows when a matrix job's strategies disagree: the first found here
STATUS_ORDER = ("FAILED", "CRASHED", "RUNNING", "CANCEL", "SUCCESS", "SKIP", "WAITING")


@dataclass
class GridRow:
    """One row of the grid: a job, or a stage of a job, with one cell per run."""

    label: str
    job: str
    stage: str | None = None
    cells: list[dict[str, Any]] = field(default_factory=list)


def combined(statuses: list[str]) -> str:
    """One status for several (a stage in each of a matrix job's strategies)."""
    for status in STATUS_ORDER:
        if status in statuses:
            return status
    return statuses[0] if statuses else ""


def stage_status(job: dict[str, Any], stage: str) -> str:
    if job.get("strategies"):
        found = [
            (strategy.get("stages") or {}).get(stage, {}).get("status", "")
            for strategy in job["strategies"].values()
        ]
        return combined([s for s in found if s])
    return ((job.get("stages") or {}).get(stage) or {}).get("status", "")


def history_grid(workflow: Workflow | None, records: list[ReleaseRecord]) -> list[GridRow]:
    """Rows for the jobs and stages of the workflow (then any only the records know), each with
    a cell per record, oldest run first; a cell without a status is a job or stage that did not run."""
    order: dict[str, list[str]] = {}
    if workflow is not None:
        for job_id, job in workflow.jobs.items():
            order[job_id] = [stage.identity for stage in job.stages]
    for record in records:
        for job_id, job in (record.context.get("jobs") or {}).items():
            stages = order.setdefault(job_id, [])
            names = list(job.get("stages") or {})
            for strategy in (job.get("strategies") or {}).values():
                names += list(strategy.get("stages") or {})
            stages.extend(name for name in dict.fromkeys(names) if name not in stages)
    rows: list[GridRow] = []
    for job_id, stages in order.items():
        job_row = GridRow(job_id, job_id)
        stage_rows = [GridRow(stage, job_id, stage) for stage in stages]
        for record in records:
            job = (record.context.get("jobs") or {}).get(job_id) or {}
            job_row.cells.append(grid_cell(record, job_id, None, job.get("status", "")))
            for row in stage_rows:
                row.cells.append(grid_cell(record, job_id, row.stage, stage_status(job, row.stage or "")))
        rows.append(job_row)
        rows.extend(stage_rows)
    return rows


def grid_cell(record: ReleaseRecord, job: str, stage: str | None, status: str) -> dict[str, Any]:
    where = f"{job}/{stage}" if stage else job
    return {
        "status": status,
        "href": f"/runs/{record.run_id}#job-{job}",
        "label": f"{where} in run {record.run_id} ({record.release.isoformat()}): {status or 'did not run'}",
    }


def run_columns(records: list[ReleaseRecord]) -> list[dict[str, Any]]:
    """The grid's column heads: each run's status, duration (a bar as tall as its share of the
    longest) and logical date."""
    durations = [duration_of(r) for r in records]
    longest = max((d for d in durations if d is not None), default=0.0) or 1.0
    return [
        {
            "run_id": record.run_id,
            "status": record.status.value,
            "release": record.release,
            "seconds": seconds,
            # a step of 0 to 10 (CSS classes h-0 to h-10: the pages' policy allows no inline style)
            "height": round(10 * (seconds or 0) / longest),
        }
        for record, seconds in zip(records, durations, strict=True)
    ]


def duration_of(record: ReleaseRecord) -> float | None:
    return (record.ended - record.started).total_seconds() if record.ended else None


def trend_svg(records: list[ReleaseRecord], width: int = 640, height: int = 160) -> str:
    """Bars of the finished runs' durations, oldest left, coloured by status; empty without any.
    (No links in it: an image holds nothing to press; the grid above links every run.)"""
    finished = [(r, d) for r in records if (d := duration_of(r)) is not None]
    if not finished:
        return ""
    left, bottom, top = 56, 22, 10
    longest = max(d for _, d in finished) or 1.0
    step = (width - left - 8) / len(finished)
    bar = min(24.0, max(2.0, step * 0.7))
    summary = ", ".join(f"{seconds_text(d)} {r.status.value}" for r, d in finished[-10:])
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="trend" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-labelledby="trend-title trend-desc">',
        '<title id="trend-title">Duration of the last runs</title>',
        f'<desc id="trend-desc">{len(finished)} finished runs, longest {seconds_text(longest)}; '
        f"the last ones: {escape(summary)}</desc>",
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - 4}" y2="{height - bottom}" class="axis"/>',
        f'<text x="{left - 6}" y="{top + 10}" text-anchor="end" class="tick">{seconds_text(longest)}</text>',
        f'<text x="{left - 6}" y="{height - bottom}" text-anchor="end" class="tick">0</text>',
    ]
    span = height - bottom - top
    for index, (record, seconds) in enumerate(finished):
        tall = max(1.0, span * seconds / longest)
        x = left + index * step + (step - bar) / 2
        fill, stroke = STATUS_COLOURS.get(record.status.value, STATUS_COLOURS["WAITING"])
        parts.append(
            f'<rect x="{x:.1f}" y="{height - bottom - tall:.1f}" '
            f'width="{bar:.1f}" height="{tall:.1f}" fill="{fill}" stroke="{stroke}">'
            f"<title>{escape(record.run_id)}: {record.status.value}, {seconds_text(seconds)}</title></rect>"
        )
    first, last = finished[0][0].started, finished[-1][0].started
    parts.append(f'<text x="{left}" y="{height - 6}" class="tick">{first:%Y-%m-%d %H:%M}</text>')
    parts.append(
        f'<text x="{width - 4}" y="{height - 6}" text-anchor="end" class="tick">{last:%Y-%m-%d %H:%M}</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def seconds_text(value: float) -> str:
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 120:
        return f"{value:.1f} s"
    return f"{value / 60:.1f} min"


def next_ticks(workflow: Workflow | None, now: datetime, count: int = NEXT_TICKS) -> list[datetime]:
    """The workflow's next ``count`` ticks from all its ``on:`` schedules, in order."""
    if workflow is None:
        return []
    ticks: list[datetime] = []
    for event in workflow.on:
        moment = now
        for _ in range(count):
            found = next_tick(event, moment)
            if found is None:
                break
            ticks.append(found)
            moment = found
    return sorted(set(ticks))[:count]
