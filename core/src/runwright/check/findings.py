"""One problem found by the static checker, and how it is printed (text or JSON)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import quote

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

    def sarif(self, base: Path | None = None) -> str:
        """SARIF 2.1.0 for code-scanning tools: one run, one result per finding; file paths
        relative to ``base`` (the current directory) under ``%SRCROOT%`` when they are inside."""
        from importlib.metadata import PackageNotFoundError, version

        try:
            tool_version = version("runwright")
        except PackageNotFoundError:
            tool_version = "0"
        findings = self.sorted()
        rules = sorted({f.rule for f in findings})
        index = {rule: number for number, rule in enumerate(rules)}
        results = []
        for finding in findings:
            location: dict[str, object] = {
                "physicalLocation": {
                    "artifactLocation": artifact_location(finding.file, base or Path.cwd()),
                    "region": {"startLine": max(finding.line, 1), "startColumn": max(finding.col, 1)},
                }
            }
            if finding.where:
                location["logicalLocations"] = [{"fullyQualifiedName": finding.where, "kind": "member"}]
            results.append(
                {
                    "ruleId": finding.rule,
                    "ruleIndex": index[finding.rule],
                    "level": finding.severity,
                    "message": {"text": finding.message},
                    "locations": [location],
                }
            )
        driver = {
            "name": "runwright",
            "version": tool_version,
            "rules": [
                {
                    "id": rule,
                    "shortDescription": {"text": f"runwright validate rule '{rule}' (docs/validate.md)"},
                }
                for rule in rules
            ],
        }
        root = (base or Path.cwd()).resolve().as_uri() + "/"
        log = {
            "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
            "version": "2.1.0",
            "runs": [
                {
                    "tool": {"driver": driver},
                    "originalUriBaseIds": {"%SRCROOT%": {"uri": root}},
                    "results": results,
                }
            ],
        }
        return json.dumps(log, indent=2)


def artifact_location(file: str, base: Path) -> dict[str, str]:
    """A file inside ``base`` as a relative URI under ``%SRCROOT%``; another as a file:// URI."""
    path = Path(file)
    if not path.is_absolute():
        path = base / path
    try:
        relative = path.resolve().relative_to(base.resolve())
    except ValueError:
        return {"uri": path.resolve().as_uri()}
    return {"uri": quote(relative.as_posix()), "uriBaseId": "%SRCROOT%"}
