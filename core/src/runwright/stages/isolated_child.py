"""The child process of an ``isolation: process`` stage (run by path: imports no runwright).

Reads ``{"code", "label", "name", "names"}`` from the request file, runs the code, and writes the
JSON-able names it bound (``{"names": ...}``) or its error (``{"error": {"name", "message"}}``).
"""

from __future__ import annotations

import builtins
import inspect
import json
import sys
from pathlib import Path
from typing import Any

PASSED_BY_RUNWRIGHT = frozenset({"__builtins__", "__name__", "print"})


def main(request_path: str, response_path: str) -> int:
    """In the child process: run the code, write the names it bound (JSON) or its error."""
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]  # no stage modules
    request = json.loads(Path(request_path).read_text(encoding="utf-8"))
    namespace: dict[str, Any] = {"__builtins__": builtins, "__name__": request["name"] or "__stage__"}
    namespace.update(request["names"])
    try:
        exec(compile(request["code"], f"<stage {request['label']}>", "exec"), namespace)  # noqa: S102
    except Exception as exc:
        answer: dict[str, Any] = {"error": {"name": type(exc).__name__, "message": str(exc)}}
    else:
        answer = {"names": {}}
        for name, value in namespace.items():
            if name in PASSED_BY_RUNWRIGHT or inspect.ismodule(value) or inspect.isclass(value):
                continue
            if callable(value):
                continue
            try:
                json.dumps(value)
            except (TypeError, ValueError):
                continue
            answer["names"][name] = value
    Path(response_path).write_text(json.dumps(answer), encoding="utf-8")
    return 1 if "error" in answer else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
