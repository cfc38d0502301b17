"""A run's job DAG as an SVG drawn on the server: one column per depth, nodes coloured by status.

A job with a matrix strategy is one node that counts its strategies by status ("3/4 SUCCESS").
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from html import escape

NODE_WIDTH = 190
NODE_HEIGHT = 54
COLUMN_GAP = 60
ROW_GAP = 18
MARGIN = 12

# fill, stroke; text is always dark on these light fills (contrast for the accessibility check)
STATUS_COLOURS = {
    "SUCCESS": ("#d3f5dc", "#1a7f37"),
    "FAILED": ("#ffd8d3", "#cf222e"),
    "CANCEL": ("#eadcff", "#8250df"),
    "CRASHED": ("#ffd8d3", "#82071e"),
    "RUNNING": ("#d6ecff", "#0969da"),
    "QUEUED": ("#fff8c5", "#9a6700"),
    "SKIP": ("#eeeeee", "#6e7781"),
    "WAITING": ("#ffffff", "#8c959f"),
}


@dataclass
class JobNode:
    """What the picture needs to know about one job."""

    job_id: str
    needs: list[str]
    status: str = "WAITING"
    strategy_total: int = 0
    strategy_statuses: Counter[str] = field(default_factory=Counter)


def depths(nodes: dict[str, JobNode]) -> dict[str, int]:
    """Each job's column: the longest chain of needs before it."""
    found: dict[str, int] = {}

    def depth(job_id: str, seen: tuple[str, ...] = ()) -> int:
        if job_id in found:
            return found[job_id]
        if job_id in seen or job_id not in nodes:
            return 0
        needs = nodes[job_id].needs
        value = 0 if not needs else 1 + max(depth(n, (*seen, job_id)) for n in needs)
        found[job_id] = value
        return value

    for job_id in nodes:
        depth(job_id)
    return found


def node_caption(node: JobNode) -> str:
    if not node.strategy_total:
        return node.status
    counts = ", ".join(f"{n} {status}" for status, n in sorted(node.strategy_statuses.items()))
    return f"{node.strategy_total} runs: {counts}" if counts else f"{node.strategy_total} runs: {node.status}"


def dag_svg(nodes: dict[str, JobNode], title: str = "Job graph") -> str:
    """The SVG markup (inline in the page; scales to the page width)."""
    column_of = depths(nodes)
    columns: dict[int, list[str]] = {}
    for job_id in nodes:
        columns.setdefault(column_of[job_id], []).append(job_id)
    position: dict[str, tuple[int, int]] = {}
    for column, members in columns.items():
        for row, job_id in enumerate(members):
            x = MARGIN + column * (NODE_WIDTH + COLUMN_GAP)
            y = MARGIN + row * (NODE_HEIGHT + ROW_GAP)
            position[job_id] = (x, y)
    width = MARGIN * 2 + (max(columns, default=0) + 1) * (NODE_WIDTH + COLUMN_GAP) - COLUMN_GAP
    height = (
        MARGIN * 2 + max((len(m) for m in columns.values()), default=1) * (NODE_HEIGHT + ROW_GAP) - ROW_GAP
    )
    description = "; ".join(f"{job_id}: {node_caption(n)}" for job_id, n in nodes.items())
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="dag" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-labelledby="dag-title dag-desc">',
        f'<title id="dag-title">{escape(title)}</title><desc id="dag-desc">{escape(description)}</desc>',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#57606a"/></marker></defs>',
    ]
    for job_id, node in nodes.items():
        x2, y2 = position[job_id]
        for need in node.needs:
            if need not in position:
                continue
            x1, y1 = position[need]
            start = (x1 + NODE_WIDTH, y1 + NODE_HEIGHT // 2)
            end = (x2, y2 + NODE_HEIGHT // 2)
            middle = (start[0] + end[0]) // 2
            parts.append(
                f'<path d="M {start[0]} {start[1]} C {middle} {start[1]}, {middle} {end[1]}, '
                f'{end[0]} {end[1]}" '
                'fill="none" stroke="#57606a" stroke-width="1.5" marker-end="url(#arrow)"/>'
            )
    for job_id, node in nodes.items():
        x, y = position[job_id]
        fill, stroke = STATUS_COLOURS.get(node.status, STATUS_COLOURS["WAITING"])
        label = job_id if len(job_id) <= 22 else job_id[:21] + "…"
        caption = node_caption(node)
        caption = caption if len(caption) <= 30 else caption[:29] + "…"
        parts.append(
            f'<g class="job status-{escape(node.status.lower())}" data-job="{escape(job_id)}">'
            f'<rect x="{x}" y="{y}" width="{NODE_WIDTH}" height="{NODE_HEIGHT}" rx="8" '
            f'fill="{fill}" stroke="{stroke}" stroke-width="2"'
            + (' stroke-dasharray="5 3"' if node.strategy_total else "")
            + "/>"
            f'<text x="{x + 10}" y="{y + 22}" font-size="14" font-weight="600" fill="#1f2328">{escape(label)}'
            + (" ⊞" if node.strategy_total else "")
            + "</text>"
            f'<text x="{x + 10}" y="{y + 42}" font-size="12" fill="#1f2328">{escape(caption)}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)
