"""A `uses:` reference with no registry package and no plugin installed: a readable message.

As after `pip install runwright` without `runwright-contrib`: the check's one line names the
module it looked for and says what to install, with no fragments of a multi-line listing.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

WITHOUT_CONTRIB = """
import sys
sys.modules["runwright_contrib"] = None  # as if runwright-contrib were not installed
sys.argv = ["runwright", *sys.argv[1:]]
from runwright.cli import main
main()
"""

TEMPLATE = """
greet:
  type: Workflow
  jobs:
    j:
      stages:
        - id: greeting
          uses: tasks/greet@local
          with: {name: Ada}
"""


def test_unknown_uses_with_nothing_installed_is_one_clear_line(tmp_path: Path) -> None:
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "greet.yml").write_text(TEMPLATE)
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_CONTRIB, "validate", str(conf)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "RUNWRIGHT_DISABLE_PLUGINS": "requests", "RUNWRIGHT_LOG_PATH": str(tmp_path)},
    )
    assert done.returncode == 2
    [line] = [line for line in done.stdout.splitlines() + done.stderr.splitlines() if "uses-unknown" in line]
    assert "Available:" not in line and "(none:" not in line
    assert "no module 'tasks' (looked for runwright_contrib.tasks, then in plugins)" in line
    assert line.endswith(
        "available: none (install runwright-contrib or a plugin, or set RUNWRIGHT_REGISTRY) [uses-unknown]"
    )
