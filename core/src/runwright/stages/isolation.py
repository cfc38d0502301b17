"""How a ``run:`` stage's code is executed: in a stoppable thread, or in a child process.

``isolation: thread`` (the default) runs the code in this process, in a worker thread that a
cancel or timeout stops (:func:`runwright.engine.stopping.call_stoppable`). ``isolation: process``
runs it in a fresh Python process that is killed outright, whatever the code is blocked in; the
names it binds come back as JSON (values that are not JSON are left out), and ``print`` output
is streamed to the trace line by line.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from pathlib import Path
from typing import Any, Literal

from runwright.engine.context import StageContext
from runwright.engine.result import to_jsonable
from runwright.engine.stopping import call_stoppable, run_stage_process, stopped_error
from runwright.errors import StageFailed

PASSED_BY_RUNWRIGHT = frozenset({"__builtins__", "__name__", "print"})
CHILD_PROGRAM = Path(__file__).with_name("isolated_child.py")
"""Run by path, so the child starts without importing runwright (fast, nothing shared)."""


Isolation = Literal["thread", "process"]
"""Where a Python stage's code runs."""


def execute_python(
    code: str, namespace: dict[str, Any], ctx: StageContext, label: str, isolation: Isolation
) -> None:
    """Execute ``code`` in ``namespace`` (updated with what it binds); stoppable either way."""
    compiled = compile(code, f"<stage {label}>", "exec")
    if isolation == "thread":
        call_stoppable(lambda: exec(compiled, namespace), ctx, label)  # noqa: S102
        return
    namespace.update(_run_in_child(code, namespace, ctx, label))


def _run_in_child(code: str, namespace: dict[str, Any], ctx: StageContext, label: str) -> dict[str, Any]:
    workdir = ctx.tmp_dir()
    token = uuid.uuid4().hex
    request, response = workdir / f"py-{token}.in.json", workdir / f"py-{token}.out.json"
    given = {k: v for k, v in namespace.items() if k not in PASSED_BY_RUNWRIGHT}
    request.write_text(
        json.dumps(
            {"code": code, "label": label, "name": namespace.get("__name__"), "names": to_jsonable(given)}
        ),
        encoding="utf-8",
    )
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    ran = run_stage_process(
        [sys.executable, str(CHILD_PROGRAM), str(request), str(response)], ctx, cwd=workdir, env=env
    )
    if ran.stopped:
        raise stopped_error(ctx, label)
    try:
        answer = json.loads(response.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise StageFailed(
            f"the Python process of stage '{label}' exited with code {ran.returncode} "
            "without returning its outputs",
            error_name="ProcessIsolationError",
        ) from None
    if "error" in answer:
        raise StageFailed(answer["error"]["message"], error_name=answer["error"]["name"])
    return answer["names"]
