"""``bash:``: a script run by bash in a private temp dir, streamed to the trace.

- ``${VAR}`` in the script body is left for the shell (no ``$$`` escaping, ever).
- ``${{ ... }}`` expressions are never spliced into the text: each becomes ``${RW_EXPR_n}``
  and the rendered value is passed in the environment, so a hostile param is only data.
- ``$RUNWRIGHT_OUTPUT`` names a file where ``key=value`` lines become outputs.
- A cancelled or timed-out run terminates the script's whole process group, then kills it.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import threading
from collections.abc import Callable
from typing import IO, Any

from pydantic import Field

from runwright.engine.context import StageContext
from runwright.errors import RunCancelled, StageFailed, StageTimeout
from runwright.hookspecs import hookimpl
from runwright.models.stage import Stage
from runwright.templating.engine import to_text

TERMINATE_GRACE_SECONDS = 3.0
_counter = itertools.count(1)


class BashStage(Stage):
    kind = "bash"
    raw_text_fields = ("bash",)

    bash: str = Field(description="The script. ${VAR} is the shell's; ${{ }} is runwright's.")
    env: dict[str, Any] = Field(default_factory=dict, description="Extra environment (templated).")

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
        process = subprocess.Popen(  # noqa: S603 - fixed argv, script from the template author
            ["bash", str(script_path)],
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        stdout: list[str] = []
        stderr: list[str] = []
        readers = [
            threading.Thread(target=_pump, args=(process.stdout, stdout, ctx, "stdout"), daemon=True),
            threading.Thread(target=_pump, args=(process.stderr, stderr, ctx, "stderr"), daemon=True),
        ]
        for reader in readers:
            reader.start()
        interrupted = _wait(process, ctx)
        for reader in readers:
            reader.join(timeout=5)
        outputs: dict[str, Any] = {
            "return_code": process.returncode,
            "stdout": "".join(stdout).rstrip("\n"),
            "stderr": "".join(stderr).rstrip("\n"),
        }
        outputs.update(_read_outputs(output_path))
        if interrupted:
            if ctx.scope.reason == "timeout":
                raise StageTimeout(f"bash stage '{self.identity}' was stopped by its timeout")
            raise RunCancelled(ctx.scope.reason or "cancelled")
        if process.returncode != 0:
            tail = outputs["stderr"][-500:]
            raise StageFailed(
                f"bash exited with code {process.returncode}" + (f": {tail}" if tail else ""),
                error_name="BashError",
                outputs=outputs,
            )
        return outputs


def _wait(process: subprocess.Popen[str], ctx: StageContext) -> bool:
    """Wait for the script; on cancel or deadline stop it. Returns whether it was stopped."""
    while True:
        remaining = ctx.scope.remaining()
        step = 0.05 if remaining is None else max(0.0, min(0.05, remaining))
        try:
            process.wait(timeout=step)
            return False
        except subprocess.TimeoutExpired:
            pass
        if remaining is not None and remaining <= 0 and not ctx.scope.cancelled:
            ctx.scope.cancel("timeout")
        if ctx.scope.cancelled:
            _stop(process)
            return True


def _stop(process: subprocess.Popen[str]) -> None:
    for sig, grace in ((signal.SIGTERM, TERMINATE_GRACE_SECONDS), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def _pump(stream: IO[str] | None, sink: list[str], ctx: StageContext, event: str) -> None:
    if stream is None:
        return
    for line in stream:
        sink.append(line)
        ctx.log(line.rstrip("\n"), event=event)
    stream.close()


def _read_outputs(path: Any) -> dict[str, str]:
    values: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return values
    for line in text.splitlines():
        if "=" in line:
            key, value = line.split("=", 1)
            if key.strip():
                values[key.strip()] = value
    return values


@hookimpl
def register_stage_types(register: Callable[[type], None]) -> None:
    register(BashStage)
