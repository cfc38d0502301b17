"""Without the extra (or with tracing not configured), a run imports nothing of OpenTelemetry
and its stages get no ``TRACEPARENT``: checked in a fresh interpreter's ``sys.modules``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PROGRAM = """
import json, sys
from runwright import Workflow
result = Workflow.from_conf("plain", sys.argv[1]).execute()
loaded = sorted(m for m in sys.modules if m.startswith(("opentelemetry", "runwright_otel")))
print(json.dumps({"status": result.status.value, "modules": loaded, "traceparent": result.traceparent}))
"""

WORKFLOW = """
plain:
  type: Workflow
  jobs:
    j:
      strategy: {{matrix: {{n: [1, 2]}}}}
      stages:
        - id: s
          bash: 'printf %s "${{TRACEPARENT:-none}}" > {out}/seen-${{{{ matrix.n }}}}'
"""


@pytest.mark.parametrize(
    ("case", "variables"),
    [
        # the plugin's entry point is not there: a collector configured changes nothing
        (
            "not installed",
            {"RUNWRIGHT_DISABLE_PLUGINS": "otel", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"},
        ),
        ("installed, nothing configured", {}),
        (
            "installed, SDK disabled",
            {"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"},
        ),
    ],
)
def test_a_run_without_tracing_imports_no_opentelemetry(
    case: str, variables: dict[str, str], tmp_path: Path
) -> None:
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "t.yml").write_text(textwrap.dedent(WORKFLOW.format(out=tmp_path)), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_") and k != "TRACEPARENT"}
    env.pop("RUNWRIGHT_DISABLE_PLUGIN_AUTOLOAD", None)
    env.update(variables)
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, str(conf)], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["status"] == "SUCCESS"
    assert found["traceparent"] is None
    expected = [] if case == "not installed" else ["runwright_otel", "runwright_otel.plugin"]
    assert found["modules"] == expected, case
    assert (tmp_path / "seen-1").read_text() == "none"
