"""One problem found by the static checker, and how it is printed (text or JSON)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Finding:
    """``file:line:col: severity: where: message [rule]`` — one line a person can jump to."""

    file: str
    line: int
    col: int
    severity: Severity
    rule: str
    message: str
    where: str = ""
    """The template/job/stage path (``template 'etl' jobs.load.stages[2].with``)."""

    def text(self) -> str:
        where = f"{self.where}: " if self.where else ""
        return f"{self.file}:{self.line}:{self.col}: {self.severity}: {where}{self.message} [{self.rule}]"


@dataclass
class Report:
    """Every finding of one check, in file order, plus what was checked."""

    findings: list[Finding] = field(default_factory=list)
    templates: int = 0
    files: int = 0

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    def sorted(self) -> list[Finding]:
        return sorted(self.findings, key=lambda f: (f.file, f.line, f.col, f.rule, f.message))

    def text(self) -> str:
        return "\n".join(f.text() for f in self.sorted())

    def json(self) -> str:
        keys = ("file", "line", "col", "severity", "rule", "message", "where")
        return json.dumps([{k: asdict(f)[k] for k in keys} for f in self.sorted()], indent=2)
