"""A Python stage on a Dask worker: what it writes below ``print`` reaches neither the console
of ``runwright run`` (the workers of its temporary LocalCluster share that console) nor its
``--json`` document unmasked; every line is in the trace, masked."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from tests.conftest import run_cli

ON_A_WORKER = """
remote:
  type: Workflow
  jobs:
    j:
      runs-on: dask
      stages:
        - id: loud
          run: |
            import logging, os, sys
            s = os.environ["MY_PASSWORD"]
            logging.getLogger("stage").warning("logging %s", s)
            sys.stderr.write("stderr " + s + "\\n")
            os.write(1, ("fd1 " + s + "\\n").encode())
            os.write(2, ("fd2 " + s + "\\n").encode())
            os.system("echo system-out $MY_PASSWORD; echo system-err $MY_PASSWORD >&2")
            worker_pid = os.getpid()
"""


def test_a_stage_on_a_dask_worker_leaks_nothing_on_the_console(conf, tmp_path: Path) -> None:
    folder = conf(ON_A_WORKER)
    secret = f"pw-{uuid.uuid4().hex}"
    env = {"MY_PASSWORD": secret}
    ran = run_cli("run", "remote", "--conf", str(folder), "--json", env=env, timeout=180)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert secret not in ran.stdout + ran.stderr
    document = json.loads(ran.stdout)
    assert document["status"] == "SUCCESS"
    logs = run_cli("logs", document["run_id"], "--conf", str(folder), env=env)
    assert secret not in logs.stdout
    for prefix in ("logging", "stderr", "fd1", "fd2", "system-out", "system-err"):
        assert f"{prefix} ***" in logs.stdout, prefix
