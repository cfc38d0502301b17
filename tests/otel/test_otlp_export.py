"""The real ``runwright run`` exports its spans with OTLP/HTTP to a receiver on 127.0.0.1.

The receiver is a stdlib HTTP server started here; it decodes each ``POST /v1/traces`` with the
protobuf classes of ``opentelemetry-proto`` (the exporter's own dependency). The same server
answers the requests plugin's call, so the test sees the ``traceparent`` header it was sent.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from tests.otel.receiver import Receiver

UPSTREAM_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
UPSTREAM = f"00-{UPSTREAM_TRACE}-00f067aa0ba902b7-01"


WORKFLOW = """
exported:
  type: Workflow
  jobs:
    fetch:
      stages:
        - id: call-api
          uses: tasks/http-request@requests
          with:
            url: {url}/api
        - id: script
          bash: 'printf %s "$TRACEPARENT" > {out}/script'
"""


def attributes(span: Any) -> dict[str, str]:
    return {a.key: a.value.string_value for a in span.attributes}


def test_runwright_run_exports_otlp_http_spans_and_propagates_the_context(
    receiver: Receiver, tmp_path: Path
) -> None:
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "t.yml").write_text(
        textwrap.dedent(WORKFLOW.format(url=receiver.url, out=tmp_path)), encoding="utf-8"
    )
    unset = {"RUNWRIGHT_REGISTRY", "RUNWRIGHT_DISABLE_PLUGIN_AUTOLOAD", "RUNWRIGHT_CONF", "OTEL_SDK_DISABLED"}
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env.update(
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url,
        OTEL_SERVICE_NAME="etl-nightly",
        OTEL_BSP_SCHEDULE_DELAY="50",
        TRACEPARENT=UPSTREAM,  # runwright itself started by a traced job
    )
    done = subprocess.run(
        [sys.executable, "-m", "runwright", "run", "exported", "--conf", str(conf), "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)

    spans = receiver.wait_for_spans(4)
    names = sorted(span.name for span in spans)
    assert names == ["job fetch", "run exported", "stage call-api", "stage script"]
    assert receiver.resources[0]["service.name"] == "etl-nightly"
    by_name = {span.name: span for span in spans}
    run = by_name["run exported"]
    assert run.trace_id.hex() == UPSTREAM_TRACE and run.parent_span_id.hex() == "00f067aa0ba902b7"
    assert attributes(run)["runwright.run_id"] == result["run_id"]
    assert attributes(run)["runwright.workflow"] == "exported"
    assert attributes(run)["runwright.status"] == "SUCCESS"
    assert by_name["job fetch"].parent_span_id == run.span_id
    call = by_name["stage call-api"]
    assert call.parent_span_id == by_name["job fetch"].span_id
    [headers] = receiver.api_headers
    assert headers["traceparent"] == f"00-{UPSTREAM_TRACE}-{call.span_id.hex()}-01"
    script = by_name["stage script"]
    assert (tmp_path / "script").read_text() == f"00-{UPSTREAM_TRACE}-{script.span_id.hex()}-01"
