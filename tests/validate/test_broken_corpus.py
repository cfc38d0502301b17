"""The broken corpus: one template per rule and per place a name can be wrong.

Each file under ``broken/`` ends with ``# expect: SEVERITY RULE LINE:COL [TEXT]`` lines: exactly
these findings (no more, no fewer) must come out of the checker for that file; ``TEXT``, when
given, is part of the message.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from runwright.check import check_conf
from runwright.runtime import Runtime

BROKEN = Path(__file__).parent / "broken"
FILES = sorted(BROKEN.glob("*.yml"))
EXPECT = re.compile(r"^# expect: (error|warning) (\S+) (\d+):(\d+)(?: (.+))?$", re.M)


def test_the_corpus_covers_every_rule_and_place() -> None:
    assert len(FILES) >= 60
    rules = {m.group(2) for f in FILES for m in EXPECT.finditer(f.read_text())}
    documented = set(
        re.findall(r"^### `([a-z-]+)`", (BROKEN.parents[2] / "docs" / "validate.md").read_text(), re.M)
    )
    assert rules <= documented, f"rules without documentation: {sorted(rules - documented)}"
    # duplicate-template needs two files: test_duplicate_template_names_both_files
    assert documented - rules == {"duplicate-template"}, sorted(documented - rules)


def test_duplicate_template_names_both_files(tmp_path: Path, runtime: Runtime) -> None:
    text = "w:\n  type: Workflow\n  jobs: {a: {stages: [{id: s, echo: hi}]}}\n"
    (tmp_path / "a.yml").write_text(text)
    (tmp_path / "b.yml").write_text("# another\n" + text)
    report = check_conf(tmp_path, runtime)
    assert [(Path(f.file).name, f.rule, f.line, f.col) for f in report.findings] == [
        ("b.yml", "duplicate-template", 2, 1)
    ]
    assert "a.yml (line 1)" in report.findings[0].message


@pytest.mark.parametrize("file", FILES, ids=[f.stem for f in FILES])
def test_broken_template_is_flagged_exactly(
    file: Path, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RW_TEST_SURELY_UNSET_VAR", raising=False)
    expected = sorted(
        (m.group(1), m.group(2), int(m.group(3)), int(m.group(4))) for m in EXPECT.finditer(file.read_text())
    )
    assert expected, f"{file.name} says nothing about what it expects"
    report = check_conf(file, runtime)
    found = sorted((f.severity, f.rule, f.line, f.col) for f in report.findings)
    assert found == expected, report.text()
    for match in EXPECT.finditer(file.read_text()):
        if match.group(5):
            messages = [
                f.message
                for f in report.findings
                if (f.rule, f.line) == (match.group(2), int(match.group(3)))
            ]
            assert any(match.group(5) in message for message in messages), report.text()
