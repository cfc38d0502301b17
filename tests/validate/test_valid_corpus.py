"""The valid corpus: conf/, and every template written in the README and docs, give no error.

A YAML block of the README or docs is a template file when each top-level value is a mapping
with a ``type``; it is checked together with the templates of ``conf/`` (which it may name,
as a Schedule names ``run-py-local``), without any ``${VAR}`` set.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from runwright.check import check_conf
from runwright.loader import TemplateYamlLoader, discover
from runwright.runtime import Runtime

from tests.conftest import REPO

FENCE = re.compile(r"^```ya?ml\n(.*?)^```", re.M | re.S)
DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
BROKEN_ON_PURPOSE = {"validate.md"}  # its examples show each rule failing


def template_blocks() -> list[tuple[str, str]]:
    blocks = []
    for document in DOCUMENTS:
        if document.name in BROKEN_ON_PURPOSE:
            continue
        for index, match in enumerate(FENCE.finditer(document.read_text(encoding="utf-8"))):
            text = match.group(1)
            data = yaml.load(text, Loader=TemplateYamlLoader)  # noqa: S506 - a SafeLoader subclass
            if (
                isinstance(data, dict)
                and data
                and all(isinstance(v, dict) and "type" in v for v in data.values())
            ):
                blocks.append((f"{document.name}#{index}", text))
    return blocks


BLOCKS = template_blocks()


def test_the_readme_has_templates_to_check() -> None:
    assert any(name.startswith("README.md") for name, _ in BLOCKS)
    assert len(BLOCKS) >= 2


def test_conf_passes_without_any_variable_set(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("API_ACCESS_REFRESH_TOKEN", "AWS_ACCESS_CLIENT_ID", "AWS_ACCESS_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    report = check_conf(REPO / "conf", runtime)
    assert report.errors == [], report.text()
    assert report.templates >= 2


@pytest.mark.parametrize(("name", "text"), BLOCKS, ids=[name for name, _ in BLOCKS])
def test_documented_template_is_valid(name: str, text: str, tmp_path: Path, runtime: Runtime) -> None:
    defined = set(yaml.load(text, Loader=TemplateYamlLoader))  # noqa: S506
    others = {n: dict(s.raw) for n, s in discover(REPO / "conf").items() if n not in defined}
    (tmp_path / "others.yml").write_text(yaml.safe_dump(others, sort_keys=False), encoding="utf-8")
    (tmp_path / "block.yml").write_text(text, encoding="utf-8")
    report = check_conf(tmp_path, runtime)
    assert report.errors == [], report.text()
