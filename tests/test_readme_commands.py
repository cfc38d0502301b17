"""The README's two fresh-machine commands stay the ones that work: CI runs the README's test command."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _setup_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    section = text[text.index("## Set up on a fresh machine") :]
    section = section[: section.index("\n## ", 1)]
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", section, re.S)]


def test_readme_gives_exactly_two_setup_commands_and_the_test_one_is_what_ci_runs() -> None:
    commands = _setup_commands()
    assert len(commands) == 2, commands
    run_example, run_tests = commands
    assert "runwright run hello-world" in run_example
    assert run_tests == "bash .ci/run"
    ci = (REPO / ".ci" / "run").read_text()
    # the script installs the system packages the real-server tests need, then the suite
    assert "chromium" in ci and "postgresql" in ci
    assert re.search(r"^python3 -m uv run pytest", ci, re.M)
