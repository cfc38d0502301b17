"""Every Python block of the README and docs runs as written.

Each block runs in a fresh interpreter from the repository root (so ``./conf`` is the conf path,
as the README says), with the environment the README tells a user to set for the seed example:
the API and S3 endpoints, here a local HTTP server and moto's S3 server on 127.0.0.1. State and
records go to a temporary folder.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from .test_seed_example import seed_env

REPO = Path(__file__).resolve().parents[2]
DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
BLOCKS = [
    pytest.param(code, id=f"{document.name}:{text[: match.start()].count(chr(10)) + 2}")
    for document in DOCUMENTS
    for text in [document.read_text()]
    for match in re.finditer(r"```python\n(.*?)```", text, re.S)
    for code in [match.group(1)]
]


def test_the_readme_has_python_blocks() -> None:
    assert sum(block.id.startswith("README.md") for block in BLOCKS) >= 2


@pytest.mark.parametrize("code", BLOCKS)
def test_python_block_runs_as_written(code: str, http_server, s3, reply, tmp_path: Path) -> None:
    env = {
        **seed_env(http_server, s3, reply),
        "RUNWRIGHT_HOME": str(tmp_path / "state"),
        "RUNWRIGHT_AUDIT_URL": f"file://{tmp_path / 'audits'}",
        "RUNWRIGHT_LOG_PATH": str(tmp_path / "logs"),
        "RUNWRIGHT_STOP_BOUNDARY_DELTA": "PT1S",  # Schedule.pending() returns after a second
        "PATH": "/usr/bin:/bin",
    }
    env.pop("RUNWRIGHT_CONF")  # the README's default: ./conf from the repository root
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
