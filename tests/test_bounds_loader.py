"""Hostile or malformed template files get a clear error naming the file (exit 2), fast, and
never a traceback; one bad file does not stop the scheduler releasing a healthy workflow."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from runwright.audit import make_audit_backend
from runwright.cli import templates  # noqa: F401 - registers `validate` on the app
from runwright.cli.app import app
from runwright.errors import ConfError
from runwright.loader import discover
from runwright.schedule.clock import SimulatedClock
from runwright.schedule.scheduler import Scheduler

from tests.conftest import REPO


def alias_bomb(levels: int = 9, width: int = 9, under_params: bool = False) -> str:
    """The classic 'billion laughs': each level repeats the previous one ``width`` times."""
    lines = ['a0: &a0 ["lol"]']
    for level in range(1, levels):
        refs = ", ".join([f"*a{level - 1}"] * width)
        lines.append(f"a{level}: &a{level} [{refs}]")
    if under_params:
        body = "\n".join("    " + line for line in lines)
        return f"bomb:\n  type: Workflow\n  params:\n{body}\n  jobs: {{j: {{stages: [{{echo: hi}}]}}}}\n"
    return "\n".join(lines) + f"\nbomb: {{type: Workflow, params: {{x: *a{levels - 1}}}}}\n"


HEALTHY = """
healthy:
  type: Workflow
  on: [{cronjob: "* * * * *"}]
  jobs:
    j: {stages: [{id: s, echo: "fine"}]}
"""

WORKFLOW_WITH = "wf:\n  type: Workflow\n  jobs:\n    j:\n      stages:\n        - {stage}\n"

#: name -> file bytes; each must be refused with a clear error that names the file.
MALFORMED: dict[str, bytes] = {
    "invalid-utf8": b"wf:\n  type: Workflow\n  desc: caf\xe9 \xff\n",
    "binary": bytes(range(256)) * 8,
    "utf16": "wf:\n  type: Workflow\n  desc: hi\n".encode("utf-16"),
    "utf32": "wf:\n  type: Workflow\n".encode("utf-32"),
    "deep-flow-sequences": ("wf: " + "[" * 5000 + "]" * 5000 + "\n").encode(),
    "deep-flow-mappings": ("wf: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n").encode(),
    "deep-block-mappings": "".join(f"{'  ' * i}k{i}:\n" for i in range(400)).encode() + b"  " * 400 + b"x\n",
    "complex-key-top": b"? [a, b]\n: 1\n",
    "complex-key-inside": b"wf:\n  type: Workflow\n  ? {x: 1}\n  : 2\n",
    "billion-laughs-under-params": alias_bomb(under_params=True).encode(),
    "alias-bomb": alias_bomb().encode(),
    "recursive-alias": b"wf: &w\n  type: Workflow\n  self: *w\n",
    "deep-through-aliases": (
        "".join(f"a{i}: &a{i} [*a{i - 1}]\n" if i else "a0: &a0 [x]\n" for i in range(600))
        + "wf: {type: Workflow, desc: *a599}\n"
    ).encode(),
    "recursive-alias-seq": b"wf: {type: Workflow, params: &p [*p]}\n",
    "bad-timestamp": b"wf: {type: Workflow, desc: 2024-13-45}\n",
    "huge-integer": b"wf: {type: Workflow, desc: " + b"9" * 6000 + b"}\n",
    "unclosed-expression": WORKFLOW_WITH.format(stage='{id: s, echo: "x ${{ params.a "}').encode(),
    "timeout-inf": WORKFLOW_WITH.format(stage="{id: s, echo: hi, timeout-minutes: .inf}").encode(),
    "timeout-1e308": WORKFLOW_WITH.format(stage="{id: s, echo: hi, timeout-minutes: 1e308}").encode(),
    "job-timeout-inf": b"wf:\n  type: Workflow\n  jobs:\n    j: {timeout-minutes: .inf, stages: [{echo: hi}]}\n",
    "sleep-nan": WORKFLOW_WITH.format(stage="{id: s, echo: hi, sleep: .nan}").encode(),
    "sleep-inf": WORKFLOW_WITH.format(stage="{id: s, echo: hi, sleep: .inf}").encode(),
    "sleep-nan-text": WORKFLOW_WITH.format(stage="{id: s, echo: hi, sleep: nan}").encode(),
    "sleep-words": WORKFLOW_WITH.format(stage="{id: s, echo: hi, sleep: a while}").encode(),
}


def validate(path: Path):
    return CliRunner().invoke(app, ["validate", str(path)])


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_template_is_a_clear_usage_error(tmp_path: Path, name: str) -> None:
    file = tmp_path / f"{name}.yml"
    file.write_bytes(MALFORMED[name])
    result = validate(file)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert f"{name}.yml" in result.output


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("invalid-utf8", r"not valid UTF-8 .*line 3"),
        ("binary", r"binary"),
        ("utf16", r"UTF-16.*UTF-8"),
        ("deep-flow-sequences", r"nested deeper than 64"),
        ("complex-key-top", r"mapping key must be a plain value"),
        ("alias-bomb", r"more than 100000 nodes, aliases expanded"),
        ("recursive-alias", r"refers to itself"),
        ("deep-through-aliases", r"nested deeper than 64 levels, aliases expanded"),
        ("bad-timestamp", r"line 1"),
    ],
)
def test_the_error_says_what_is_wrong(tmp_path: Path, name: str, expected: str) -> None:
    file = tmp_path / f"{name}.yml"
    file.write_bytes(MALFORMED[name])
    with pytest.raises(ConfError, match=expected) as caught:
        discover(file)
    assert str(file) in str(caught.value)


def test_limits_are_configurable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file = tmp_path / "big.yml"
    file.write_text(HEALTHY + "\n# " + "x" * 3000 + "\n")
    assert "healthy" in discover(file)
    monkeypatch.setenv("RUNWRIGHT_MAX_TEMPLATE_BYTES", "2000")
    with pytest.raises(ConfError, match=r"big\.yml: .*larger than 2000 bytes"):
        discover(file)
    nested = tmp_path / "nested.yml"
    nested.write_text("wf: {desc: " + "[" * 10 + "]" * 10 + "}\n")
    assert discover(nested)["wf"]
    monkeypatch.setenv("RUNWRIGHT_MAX_YAML_DEPTH", "5")
    with pytest.raises(ConfError, match="nested deeper than 5"):
        discover(nested)
    monkeypatch.setenv("RUNWRIGHT_MAX_YAML_NODES", "20")
    wide = tmp_path / "wide.yml"
    wide.write_text("wf: {desc: [" + ", ".join(["1"] * 30) + "]}\n")
    with pytest.raises(ConfError, match="more than 20 nodes"):
        discover(wide)


def test_small_aliases_still_work(tmp_path: Path) -> None:
    file = tmp_path / "anchors.yml"
    file.write_text("base: &b {type: Workflow, desc: shared}\nwf:\n  <<: *b\n  desc: mine\n")
    assert discover(file)["wf"].raw == {"type": "Workflow", "desc": "mine"}


def validate_in_a_fresh_process(file: Path, timeout: float, env: dict[str, str]) -> tuple[float, str, int]:
    """``runwright validate FILE`` in a new interpreter: seconds taken, output, exit code."""
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "runwright", "validate", str(file)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=timeout,
        env=env,
    )
    return time.monotonic() - started, result.stdout + result.stderr, result.returncode


NORMAL_LOAD_MULTIPLE = 10
"""How many times a normal ``validate`` the bomb may take: generous, so a loaded machine passes,
and still far below what measuring the bomb without the per-node memo takes (hours at this cap)."""


def test_alias_bomb_is_refused_quickly_by_the_cli(tmp_path: Path) -> None:
    """The 717-byte bomb kept `validate` busy for over a minute; now it is refused as fast as a
    healthy file is validated, even with a node cap of a billion (a limit, not the defence)."""
    env = {**os.environ, "RUNWRIGHT_MAX_YAML_NODES": str(10**9)}
    healthy = tmp_path / "healthy.yml"
    healthy.write_text(HEALTHY)
    validate_in_a_fresh_process(healthy, 120, env)  # warm-up: bytecode caches
    normal, output, code = validate_in_a_fresh_process(healthy, 120, env)
    assert code == 0, output
    bomb = tmp_path / "bomb.yml"
    bomb.write_text(alias_bomb(levels=12))  # 9**11 strings once expanded
    assert len(bomb.read_bytes()) < 1500
    bound = NORMAL_LOAD_MULTIPLE * normal
    try:
        took, shown, code = validate_in_a_fresh_process(bomb, bound, env)
    except subprocess.TimeoutExpired:
        pytest.fail(
            f"the alias bomb was not refused within {bound:.1f} s ({NORMAL_LOAD_MULTIPLE}x a normal validate)"
        )
    assert code == 2, shown
    assert "bomb.yml" in shown and "more than 1000000000 nodes" in shown and "aliases expanded" in shown
    assert "Traceback" not in shown


def test_scheduler_releases_a_healthy_workflow_next_to_a_bomb(tmp_path: Path) -> None:
    folder = tmp_path / "conf"
    folder.mkdir()
    (folder / "bomb.yml").write_text(alias_bomb())
    (folder / "healthy.yml").write_text(HEALTHY)
    start = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(seconds=30)
    outcomes = Scheduler(folder, clock=SimulatedClock(start)).run(until=start + timedelta(minutes=2))
    assert [o.status for o in outcomes if o.workflow == "healthy"] == ["SUCCESS", "SUCCESS"]
    assert len(make_audit_backend().list(workflow="healthy")) == 2
