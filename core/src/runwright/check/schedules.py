"""``type: Schedule``: each entry names an existing workflow, with params it declares.

Cron expressions, time zones and ISO durations are validated by the models (``CronEvent``);
their errors get the rules below so a person can tell them apart.
"""

from __future__ import annotations

from typing import Any

from runwright.check.issues import did_you_mean
from runwright.check.scope import release_shape
from runwright.check.triggers import undeclared_params

FIELD_RULES = {
    "cronjob": "cron",
    "timezone": "timezone",
    "catchup": "duration",
    "start": "datetime",
    "end": "datetime",
    "sleep": "duration",
    "timeout-minutes": "timeout-minutes",
    "needs": "needs",
    "max-attempts": "retry",
    "delay-seconds": "retry",
    "backoff": "retry",
    "max-delay-seconds": "retry",
    "type": "template-type",
}


def rule_for(loc: tuple[Any, ...], message: str) -> str:
    """The rule of a model error, from the field it is about."""
    if "needs unknown job" in message:
        return "needs"
    if "jobs form a cycle" in message:
        return "needs-cycle"
    if "have the id" in message:
        return "duplicate-stage-id"
    if "inside 'matrix:'" in message:
        return "matrix"
    if "retry" in loc:
        return "retry"
    for part in reversed(loc):
        if isinstance(part, str) and part in FIELD_RULES:
            return FIELD_RULES[part]
    if message.startswith("unknown key"):
        return "unknown-field"
    if "stage's kind" in message or "exactly one kind" in message:
        return "stage-kind"
    return "schema"


class _At:
    """Adapts a TemplateCheck to the ``report(rule, message, path)`` of shared rules."""

    def __init__(self, tc: Any) -> None:
        self.tc = tc

    def report(self, rule: str, message: str, path: tuple[Any, ...]) -> None:
        self.tc.add(rule, message, path)


def check_schedule(checker: Any, tc: Any, schedule: Any) -> None:
    workflows = checker.workflows or {}
    names = {"release": release_shape()}
    for index, entry in enumerate(schedule.workflows):
        path = ("workflows", index)
        checker.check_value(tc, entry.params, (*path, "params"), names)
        if entry.name not in workflows:
            tc.add(
                "schedule-workflow",
                f"no workflow named '{entry.name}'{did_you_mean(entry.name, workflows)}",
                (*path, "name"),
            )
            continue
        model = workflows[entry.name]
        if model is None:
            continue
        undeclared_params(_At(tc), model, entry.params, "schedule-param", (*path, "params"))
        if entry.on is None and not model.on:
            tc.add(
                "schedule-no-cron",
                f"workflow '{entry.name}' has no on: cron entries and this entry gives none, "
                "so it is never released",
                path,
                severity="warning",
            )
