"""``foreach:`` from data: an expression taking a param must take an ``array`` param."""

from __future__ import annotations

from typing import Any

from runwright.check.checker import not_an_array
from runwright.hookspecs import hookimpl


@hookimpl
def check_stage(stage: Any, checker: Any) -> None:
    if getattr(stage, "kind", None) != "foreach" or not isinstance(stage.foreach, str):
        return
    problem = not_an_array(checker.workflow, stage.foreach)
    if problem:
        checker.report("foreach", f"foreach {problem}", "foreach")
