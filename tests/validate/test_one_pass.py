"""One run of the checker shows every independent mistake: a schema error in one job does not
hide the expression, cron, ``needs:`` or matrix errors of the others (nor of the same job)."""

from __future__ import annotations

from pathlib import Path

from runwright.check import check_conf
from runwright.runtime import Runtime

MANY = Path(__file__).parent / "fixtures" / "many-mistakes.yml"

EXPECTED = [  # (line, col, rule, part of the message)
    (6, 8, "schema", "unknown type 'integer' (did you mean 'int'?)"),
    (
        8,
        16,
        "cron",
        "'0 25 * * *' is not a valid 5-field cron expression: field 2 (hour) is '25', expected 0-23",
    ),
    (9, 17, "timezone", "unknown IANA timezone 'Europe/Berln' (did you mean 'Europe/Berlin'?)"),
    (12, 7, "unknown-field", "did you mean 'timeout-minutes'"),
    (15, 21, "unknown-param", "no 'nmae' (did you mean 'name'?)"),
    (17, 18, "unknown-filter", "unknown filter 'uper'"),
    (19, 14, "needs", "needs unknown job(s) prepair (jobs: extract, load, report, final)"),
    (22, 18, "unknown-stage", "'stages.later' is not available here: it runs later"),
    (24, 33, "retry", "greater than or equal to 1"),
    (25, 18, "expression-syntax", "'${{ params. }}'"),
    (31, 18, "unknown-matrix-key", "no 'pyton' (did you mean 'python'?)"),
    (33, 15, "condition-constant", "plain word"),
    (36, 17, "uses-unknown", "did you mean 'tasks/greet@local'?"),
    (37, 11, "stage-kind", "exactly one kind key"),
    (41, 24, "timeout-minutes", "greater than 0"),
    (44, 18, "unknown-name", "unknown name 'parms' (did you mean 'params'?)"),
]


def test_every_family_of_mistake_is_reported_in_one_run(runtime: Runtime) -> None:
    report = check_conf(MANY, runtime)
    found = [(f.line, f.col, f.rule, f.message) for f in report.sorted()]
    assert len(found) == len(EXPECTED), report.text()
    for (line, col, rule, message), (want_line, want_col, want_rule, part) in zip(
        found, EXPECTED, strict=True
    ):
        assert (line, col, rule) == (want_line, want_col, want_rule), report.text()
        assert part in message, report.text()
    assert len({rule for _, _, rule, _ in EXPECTED}) >= 12


def test_setting_a_refused_part_aside_reports_nothing_it_caused(tmp_path: Path, runtime: Runtime) -> None:
    # a stage that cannot be built still has its id; a param with a bad type keeps its name;
    # a strategy with a bad value keeps its keys: references to them are not reported
    (tmp_path / "w.yml").write_text(
        "w:\n"
        "  type: Workflow\n"
        "  params: {n: {type: integr, default: 0}}\n"
        "  jobs:\n"
        "    a:\n"
        "      strategy: {matrix: {py: ['3.11']}, max-parallel: 0}\n"
        "      stages:\n"
        "        - {id: s, echo: x, bash: y}\n"
        "        - {id: t, echo: '${{ stages.s.outputs }} ${{ params.n }} ${{ matrix.py }}'}\n"
        "    b:\n"
        "      needs: [a]\n"
        "      timeout-minutes: soon\n"
        "      stages: [{id: u, echo: '${{ jobs.a.status }} ${{ params.m }}'}]\n"
    )
    report = check_conf(tmp_path, runtime)
    assert sorted((f.line, f.rule) for f in report.findings) == [
        (3, "schema"), (6, "schema"), (8, "stage-kind"), (12, "timeout-minutes"), (13, "unknown-param"),
    ], report.text()  # fmt: skip
