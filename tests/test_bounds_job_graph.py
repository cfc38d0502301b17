"""A long ``needs:`` chain is checked in time linear in its length: what ``jobs.X`` may name in
each job is worked out once per workflow, not once per job (3,000 jobs took 27 s). The speed is
measured by ``bench/job_graph.py``; here: the answers on long chains, and that the work done
per job does not grow with the chain."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from runwright.check import scope
from runwright.cli import templates  # noqa: F401 - registers `validate` on the app
from runwright.cli.app import app


def chain_template(length: int, last_reads: str = "j0", extra: str = "") -> str:
    """``j0 <- j1 <- ... <- j{length-1}``; the last job reads ``jobs.<last_reads>``."""
    lines = ["chain:", "  type: Workflow", "  jobs:"]
    for index in range(length):
        lines.append(f"    j{index}:")
        if index:
            lines.append(f"      needs: [j{index - 1}]")
        if index == length - 1:
            lines.append(f"      stages: [{{id: s, echo: '${{{{ jobs.{last_reads}.status }}}}'}}]")
        else:
            lines.append(
                f"      stages: [{{id: s, echo: '${{{{ jobs.j{max(index - 1, 0)}.stages.s.outputs }}}}'}}]"
                if index
                else "      stages: [{id: s, echo: hi}]"
            )
    return "\n".join(lines) + "\n" + extra


def validate(tmp_path: Path, text: str):
    file = tmp_path / "chain.yml"
    file.write_text(text)
    return CliRunner().invoke(app, ["validate", str(file)])


def test_a_3000_job_chain_validates_and_reaches_back_to_its_start(tmp_path: Path) -> None:
    result = validate(tmp_path, chain_template(3000))
    assert result.exit_code == 0, result.output[-2000:]


def test_a_job_outside_the_needs_of_a_long_chain_is_named(tmp_path: Path) -> None:
    extra = "    side:\n      stages: [{id: s, echo: hi}]\n"
    result = validate(tmp_path, chain_template(3000, last_reads="side", extra=extra))
    assert result.exit_code == 2, result.output[-2000:]
    assert "'jobs.side' is not available here: it is not in the needs of job 'j2999'" in result.output
    result = validate(tmp_path, chain_template(3000, last_reads="j2999"))
    assert "'jobs.j2999' is not available here: that is this job itself" in result.output
    result = validate(tmp_path, chain_template(3000, last_reads="nosuch"))
    assert "jobs has no 'nosuch'" in result.output


def test_diamonds_and_unrelated_branches(tmp_path: Path) -> None:
    text = """
diamond:
  type: Workflow
  jobs:
    a: {stages: [{id: s, echo: hi}]}
    b: {needs: [a], stages: [{id: s, echo: "${{ jobs.a.status }}"}]}
    c: {needs: [a], stages: [{id: s, echo: "${{ jobs.b.status }}"}]}
    d: {needs: [b, c], stages: [{id: s, echo: "${{ jobs.a.status }} ${{ jobs.b.status }} ${{ jobs.c.status }}"}]}
"""
    result = validate(tmp_path, text)
    assert result.exit_code == 2
    errors = [line for line in result.output.splitlines() if ": error: " in line]
    assert len(errors) == 1 and "jobs.c.stages[0]" in errors[0] and "'jobs.b'" in errors[0], errors


@pytest.mark.parametrize("length", [300, 1200])
def test_each_job_record_shape_is_built_once(
    tmp_path: Path, length: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cause of the quadratic time: every job rebuilt the record shape of every job it
    waits for (n²/2 shapes for a chain). Now each is built at most once per check."""
    built: list[str] = []
    original = scope.job_record_shape

    def counting(job_id, *args):  # noqa: ANN001, ANN002, ANN202 - a wrapper of the real function
        built.append(job_id)
        return original(job_id, *args)

    monkeypatch.setattr(scope, "job_record_shape", counting)
    result = validate(tmp_path, chain_template(length))
    assert result.exit_code == 0, result.output[-2000:]
    assert len(built) <= length
