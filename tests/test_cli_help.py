"""Every command's ``--help``, as the installed ``runwright`` prints it (plugin commands too)."""

from __future__ import annotations

import json
import re
import subprocess
import sys

from tests.conftest import REPO

WALK_EVERY_HELP = r"""
import contextlib, io, json, re, sys
from runwright.cli import main

def help_of(path):
    sys.argv = ["runwright", *path, "--help"]
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        main()
    return out.getvalue()

pages, pending = {}, [[]]
while pending:
    path = pending.pop()
    text = pages[" ".join(path)] = help_of(path)
    if "Commands:" in text:
        listing = text.split("Commands:", 1)[1]
        pending += [[*path, name] for name in re.findall(r"^  (\S+)  ", listing, re.M)]
print(json.dumps(pages))
"""


def test_every_commands_help_renders_as_written() -> None:
    """No ``<bool>`` after a flag, brackets are text (not markup), on every command."""
    walked = subprocess.run(
        [sys.executable, "-c", WALK_EVERY_HELP], capture_output=True, text=True, cwd=REPO, timeout=120
    )
    assert walked.returncode == 0, walked.stderr
    pages: dict[str, str] = json.loads(walked.stdout)
    expected = {"", "run", "scheduler", "backfill", "validate", "audit", "audit list", "plugins"}
    assert expected <= set(pages), sorted(pages)
    for command, text in pages.items():
        assert text.startswith("Usage: runwright"), (command, text)
        assert "<bool>" not in text, (command, text)
        assert not re.search(r"\[/?(bold|cyan|green|red|yellow|dim)\]", text), (command, text)
    assert "[start, end]" in pages["backfill"]
    assert re.search(r"^  --dry-run\s", pages["run"], re.M)
