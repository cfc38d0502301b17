"""A template's YAML as written (with line numbers), and where in it a run's error comes from."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runwright.loader import TemplateSource
from runwright.models.workflow import Workflow

MAX_SOURCE_LINES = 2_000


@dataclass
class SourceLines:
    """The lines of one template in its file: ``(number, text)`` from its first line on."""

    file: Path
    lines: list[tuple[int, str]]


def template_lines(source: TemplateSource | None) -> SourceLines | None:
    """The template's own lines: from its name to the next top-level key (comments before
    that key stay with it), at most :data:`MAX_SOURCE_LINES`."""
    if source is None:
        return None
    try:
        text = source.file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    every = text.splitlines()
    start = max(source.line, 1)
    end = len(every)
    for index in range(start, len(every)):  # index is the 0-based number of the line after
        line = every[index]
        if line and not line[0].isspace() and not line.startswith("#"):
            end = index
            break
    while end > start and not every[end - 1].strip():
        end -= 1
    chosen = every[start - 1 : min(end, start - 1 + MAX_SOURCE_LINES)]
    return SourceLines(source.file, [(start + offset, line) for offset, line in enumerate(chosen)])


def error_line(source: TemplateSource | None, workflow: Workflow | None, error: dict[str, Any]) -> int | None:
    """The line of the template an error comes from: the ``file:line:col`` an expression error
    names, else the failing stage's item, else its job's key; None when it names no place."""
    if source is None:
        return None
    named = re.search(re.escape(str(source.file)) + r":(\d+):\d+", str(error.get("message", "")))
    if named:
        return int(named.group(1))
    job_id = error.get("job")
    if not job_id:
        return None
    from runwright.check.positions import positions_of  # composed only when a run failed

    positions = positions_of(source.file)
    stage = str(error.get("stage") or "").split("/")[0]
    job = workflow.jobs.get(job_id) if workflow is not None else None
    if stage and job is not None:
        for index, candidate in enumerate(job.stages):
            if candidate.identity == stage:
                return positions.locate((source.name, "jobs", job_id, "stages", index))[0]
    return positions.locate((source.name, "jobs", job_id), key=True)[0]
