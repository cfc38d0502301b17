"""``bash:``: a script run by bash in a private temp dir, streamed to the trace.

- ``${VAR}`` in the script body is left for the shell (no ``$$`` escaping, ever).
- ``${{ ... }}`` expressions are never spliced into the text: each becomes ``${RW_EXPR_n}``
  and the rendered value is passed in the environment, so a hostile param is only data.
- ``$RUNWRIGHT_OUTPUT`` names a file where ``key=value`` lines and GitHub's multi-line
  ``key<<DELIMITER`` ... ``DELIMITER`` blocks become outputs. ``rw_output NAME VALUE`` (a shell
  function every stage has) writes the block form with a random delimiter, so a value holding
  newlines stays one value. ``return_code``, ``stdout`` and ``stderr`` cannot be set this way.
- A cancelled or timed-out run stops the script, every process it started (its process group,
  sessions it made with ``setsid``, orphans that carry its marker) within the grace period.
"""

from __future__ import annotations

import functools
import itertools
import os
import re
from collections.abc import Callable
from typing import Any

from pydantic import Field

from runwright.engine.context import StageContext
from runwright.engine.stopping import run_stage_process
from runwright.errors import RunCancelled, StageFailed, StageTimeout
from runwright.hookspecs import hookimpl
from runwright.models.stage import Stage
from runwright.templating.engine import to_text

RESERVED_OUTPUTS = frozenset({"return_code", "stdout", "stderr"})
_counter = itertools.count(1)
_BLOCK_START = re.compile(r"^([^=<]+)<<(.+)$")

RW_OUTPUT_FUNCTION = r"""() {
  if [ "$#" -ne 2 ]; then echo "rw_output: usage: rw_output NAME VALUE" >&2; return 2; fi
  case "$1" in
    return_code|stdout|stderr) echo "rw_output: '$1' is reserved" >&2; return 2;;
    [A-Za-z_]*) case "$1" in *[!A-Za-z0-9_-]*) echo "rw_output: bad name '$1'" >&2; return 2;; esac;;
    *) echo "rw_output: bad name '$1' (letters, digits, _ and -)" >&2; return 2;;
  esac
  local delimiter
  delimiter="rw_$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
  while [[ "$2" == *"$delimiter"* ]]; do
    delimiter="rw_$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
  done
  printf '%s<<%s\n%s\n%s\n' "$1" "$delimiter" "$2" "$delimiter" >> "$RUNWRIGHT_OUTPUT"
}"""
"""``rw_output NAME VALUE``, exported to the script as a bash function."""


class BashStage(Stage):
    kind = "bash"
    raw_text_fields = ("bash",)

    bash: str = Field(description="The script. ${VAR} is the shell's; ${{ }} is runwright's.")
    env: dict[str, Any] = Field(default_factory=dict, description="Extra environment (templated).")

    def static_outputs(self, runtime: Any) -> frozenset[str] | None:
        return script_outputs(self.bash)

    def run(self, ctx: StageContext) -> dict[str, Any]:
        script, values = ctx.runtime.expressions.render_as_variables(
            self.bash, ctx.variables, lambda name: "${" + name + "}"
        )
        workdir = ctx.tmp_dir()
        number = next(_counter)
        script_path = workdir / f"stage-{number}.sh"
        output_path = workdir / f"stage-{number}.out"
        script_path.write_text(script, encoding="utf-8")
        output_path.write_text("", encoding="utf-8")
        env = dict(os.environ)
        env.update({k: to_text(v) for k, v in ctx.render(self.env).items()})
        env.update({k: to_text(v) for k, v in values.items()})
        env["RUNWRIGHT_OUTPUT"] = str(output_path)
        env["RUNWRIGHT_RUN_ID"] = ctx.run.run_id
        env["BASH_FUNC_rw_output%%"] = RW_OUTPUT_FUNCTION
        ran = run_stage_process(["bash", str(script_path)], ctx, cwd=workdir, env=env)
        outputs: dict[str, Any] = {
            "return_code": ran.returncode,
            "stdout": ran.stdout.rstrip("\n"),
            "stderr": ran.stderr.rstrip("\n"),
        }
        written, problems = _read_outputs(output_path)
        for problem in problems:
            ctx.log(problem, event="warning")
        outputs.update(written)
        if ran.stopped:
            if ctx.scope.reason == "timeout":
                raise StageTimeout(ctx.scope.ran_past(f"bash stage '{self.identity}'"))
            raise RunCancelled(ctx.scope.reason or "cancelled")
        if ran.returncode != 0:
            tail = outputs["stderr"][-500:]
            raise StageFailed(
                f"bash exited with code {ran.returncode}" + (f": {tail}" if tail else ""),
                error_name="BashError",
                outputs=outputs,
            )
        return outputs


_RW_OUTPUT_CALL = re.compile(r"(?:^|[;&|({`\s])rw_output(?:[ \t]+(\S+))?")
_OUTPUT_LINE = re.compile(
    r"""^\s*(?:echo(?:\s+-[neE]+)?|printf)\s+(['"]?)([A-Za-z_][A-Za-z0-9_-]*)(=|<<)[^>]*>>\s*"""
    r"""["']?\$\{?RUNWRIGHT_OUTPUT\}?["']?\s*(?:[;&|#].*)?$"""
)
_LITERAL_NAME = re.compile(r"""^(['"]?)([A-Za-z_][A-Za-z0-9_-]*)\1$""")


@functools.lru_cache(maxsize=1024)
def script_outputs(script: str) -> frozenset[str] | None:
    """The outputs a script can write, when it names every one literally: ``rw_output NAME``
    and ``echo "NAME=..." >> "$RUNWRIGHT_OUTPUT"`` lines (plus ``return_code``/``stdout``/
    ``stderr``). None (not known) when it writes none that way, as a program it starts may
    write ``$RUNWRIGHT_OUTPUT`` itself, or when a name is not literal (``rw_output "$k"``),
    the file is used another way (``cat x >> $RUNWRIGHT_OUTPUT``), or ``${{ }}`` sits in a
    name."""
    names: set[str] = set()
    writes = False
    for line in script.splitlines():
        code = line.split("#", 1)[0] if line.lstrip().startswith("#") else line
        if "RUNWRIGHT_OUTPUT" in code:
            match = _OUTPUT_LINE.match(code)
            if not match:
                return None
            names.add(match.group(2))
            writes = True
        for call in _RW_OUTPUT_CALL.finditer(code):
            literal = _LITERAL_NAME.match(call.group(1) or "")
            if literal is None:
                return None
            names.add(literal.group(2))
            writes = True
    return frozenset(names | RESERVED_OUTPUTS) if writes else None


def _read_outputs(path: Any) -> tuple[dict[str, str], list[str]]:
    """Outputs from ``$RUNWRIGHT_OUTPUT``, and what was refused (reserved names, open blocks)."""
    values: dict[str, str] = {}
    problems: list[str] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return values, problems
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        block = _BLOCK_START.match(line)
        if block and "=" not in line.split("<<", 1)[0]:
            key, delimiter = block.group(1).strip(), block.group(2)
            end = next((i for i in range(index, len(lines)) if lines[i] == delimiter), None)
            if end is None:
                problems.append(f"output '{key}': no closing line '{delimiter}'; ignored")
                break
            value, index = "\n".join(lines[index:end]), end + 1
        elif "=" in line:
            key, value = line.split("=", 1)
            key = key.strip()
        else:
            continue
        if not key:
            continue
        if key in RESERVED_OUTPUTS:
            problems.append(f"output '{key}' is set by runwright; $RUNWRIGHT_OUTPUT cannot change it")
            continue
        values[key] = value
    return values, problems


@hookimpl
def register_stage_types(register: Callable[[type], None]) -> None:
    register(BashStage)
