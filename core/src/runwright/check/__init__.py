"""Static checks behind ``runwright validate``, ``run --dry-run`` and the start of every run.

One module per rule family: ``expressions`` (names in ``${{ }}``), ``filters``, ``uses``
(``uses:``/``with:``), ``conditions``, ``schedules`` (Schedule templates, cron, durations),
``triggers`` (trigger stages and their graph); ``${VAR}`` checks happen in ``conf``. Imported
lazily: a run pays for it only when it starts. ``docs/validate.md`` lists every rule.
"""

from __future__ import annotations

import threading
from typing import Any

from runwright.check.conf import check_conf, check_model
from runwright.check.findings import Finding, Report
from runwright.errors import RunwrightError

__all__ = [
    "CheckFailed", "Finding", "Report", "check_before_run", "check_conf", "check_model", "prepare_check",
]  # fmt: skip


class CheckFailed(RunwrightError):
    """The static checks found errors; the run does not start."""

    def __init__(self, report: Report) -> None:
        self.report = report
        super().__init__("the template has errors:\n" + "\n".join(f.text() for f in report.errors))


_checked_lock = threading.Lock()


def _cache_key(model: Any) -> tuple[str, str, str] | None:
    """A template loaded from a file: (file, name, definition hash); None for one built in Python."""
    definition = getattr(model, "_definition_hash", "")
    return (str(getattr(model, "_source", "")), model.name, definition) if definition else None


def prepare_check(model: Any, runtime: Any) -> Report:
    """Check a workflow and keep the verdict for :func:`check_before_run`, which says its
    warnings and raises its errors when the workflow runs.

    A template loaded from a file is checked once per definition and runtime (the result is
    kept on the runtime, whose plugins decide what is valid). Loading a workflow by name checks
    it (:func:`runwright.loader.load_template`), so a run pays for the check only when the
    workflow was built some other way.
    """
    key = _cache_key(model)
    with _checked_lock:
        cache: dict[tuple[str, str, str], Report] = runtime.__dict__.setdefault("_static_checks", {})
        report = cache.get(key) if key else None
        if report is None:
            report = check_model(model, runtime)
            if key:
                if len(cache) > 1024:
                    cache.clear()
                cache[key] = report
    return report


def check_before_run(model: Any, runtime: Any) -> Report:
    """Check a workflow before it runs: errors raise; warnings are logged, once per template
    definition (every run for a workflow built in Python)."""
    import logging

    report = prepare_check(model, runtime)
    key = _cache_key(model)
    with _checked_lock:
        said: set[tuple[str, str, str]] = runtime.__dict__.setdefault("_static_checks_said", set())
        first = key is None or key not in said
        if key:
            if len(said) > 1024:
                said.clear()
            said.add(key)
    if first:
        for finding in report.warnings:
            logging.getLogger("runwright.check").warning("%s", finding.text())
    if report.errors:
        raise CheckFailed(report)
    return report
