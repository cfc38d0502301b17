"""The docs site (mkdocs + Material) builds with --strict: a broken link, a missing page or a page
left out of the navigation fails the build, and so the suite."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def build(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )


def test_the_docs_site_builds_strict(tmp_path: Path) -> None:
    done = build(REPO / "mkdocs.yml", tmp_path / "site")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "site" / "index.html").is_file()
    assert (tmp_path / "site" / "validate" / "index.html").is_file()


def test_a_broken_link_or_a_page_left_out_fails_the_build(tmp_path: Path) -> None:
    copy = tmp_path / "repo"
    shutil.copytree(REPO / "docs", copy / "docs")
    shutil.copy(REPO / "mkdocs.yml", copy / "mkdocs.yml")
    index = copy / "docs" / "index.md"
    index.write_text(index.read_text() + "\nSee [the missing page](no-such-page.md).\n")
    broken = build(copy / "mkdocs.yml", tmp_path / "site1")
    assert broken.returncode != 0 and "no-such-page.md" in broken.stderr

    index.write_text(index.read_text().replace("See [the missing page](no-such-page.md).", ""))
    (copy / "docs" / "orphan.md").write_text("# Not in the navigation\n")
    left_out = build(copy / "mkdocs.yml", tmp_path / "site2")
    assert left_out.returncode != 0 and "orphan.md" in left_out.stderr
