"""The workflow page, the run timeline, rerun with the params form, log search and the live tail,
in Debian's Chromium through Playwright (a real ``runwright serve`` over a SQLite store)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.api.conftest import SECRET_VALUE, Server, start_server, stop_server
from tests.api.test_observe_browser import (
    WAIT_MS,
    accessibility_violations,
    browser,
    page,
    screenshot,
    sign_in,
)

__all__ = ["browser", "page"]  # fixtures shared with the observe tests (page: signed in to this server)

PAGES_CONF = """
pipeline:
  type: Workflow
  desc: Extracts, checks three parts in a matrix, loads.
  params:
    table: {type: str, default: orders}
    api_key: {type: str, default: "${SERVICE_API_KEY}"}
    marker: str
  on:
    - cronjob: "0 6 * * *"
      timezone: UTC
  jobs:
    extract:
      stages:
        - id: count
          bash: 'echo "extracting ${{ params.table }}"'
    check:
      needs: [extract]
      strategy:
        matrix: {part: [zeta, alpha, mid]}
      stages:
        - id: first
          bash: 'case "${{ matrix.part }}" in zeta) sleep 0.8;; mid) sleep 0.4;; esac; echo "checked ${{ matrix.part }}"'
        - id: second
          echo: "second of ${{ matrix.part }}"
    load:
      needs: [check]
      stages:
        - id: prepare
          echo: preparing
        - id: gate
          bash: 'test -f "${{ params.marker }}" || { echo "connection refused: no marker" >&2; exit 3; }'

ticker:
  type: Workflow
  desc: Prints a line every half second.
  jobs:
    tick:
      stages:
        - id: loop
          bash: 'for i in 1 2 3 4 5 6 7 8; do echo "tick $i"; sleep 0.5; done'
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("pages")
    running = start_server(
        root,
        conf_text=PAGES_CONF,
        extra_args=("--workers", "0"),
        env={"RUNWRIGHT_AUDIT_URL": f"sqlite:///{root / 'audit.db'}"},
    )
    yield running
    stop_server(running)


@pytest.fixture(scope="module")
def failed_and_fixed(server: Server) -> tuple[str, str, Path]:
    """A run that failed at load/gate, one that succeeded, and the marker they use."""
    marker = server.root / "pages-marker"
    failed = server.trigger("pipeline", {"marker": str(marker)})
    assert server.wait_status(failed)["status"] == "FAILED"
    marker.write_text("ok")
    fixed = server.trigger("pipeline", {"marker": str(marker), "table": "sales"})
    assert server.wait_status(fixed)["status"] == "SUCCESS"
    marker.unlink()
    return failed, fixed, marker




def test_workflow_page_history_trend_ticks_and_source(
    page: Page, server: Server, failed_and_fixed: tuple[str, str, Path], tmp_path: Path
) -> None:
    failed, fixed, _ = failed_and_fixed
    page.goto(server.url + "/")
    page.get_by_role("link", name="pipeline").click()
    expect(page.get_by_role("heading", name="pipeline", exact=True)).to_be_visible()
    grid = page.locator("table.grid")
    heads = grid.locator("th.run-head a")
    expect(heads).to_have_count(2)
    assert heads.nth(0).get_attribute("href") == f"/runs/{failed}"  # oldest left
    assert heads.nth(1).get_attribute("href") == f"/runs/{fixed}"
    heights = [head.evaluate("e => e.getBoundingClientRect().height") for head in heads.all()]
    assert max(heights) == 46 and min(heights) >= 6  # the longest run's bar is the tallest (CSS, no inline style)
    labels = grid.locator("tbody th").all_inner_texts()
    assert labels == ["extract", "count", "check", "first", "second", "load", "prepare", "gate"]
    gate = grid.locator("tr", has=page.locator("th", has_text="gate"))
    assert gate.locator("a.cell").nth(0).get_attribute("class") == "cell status-failed"
    assert gate.locator("a.cell").nth(1).get_attribute("class") == "cell status-success"
    assert gate.locator("a.cell").nth(0).get_attribute("href") == f"/runs/{failed}#job-load"
    expect(page.locator("svg.trend rect")).to_have_count(2)
    ticks = page.locator("ol.ticks time")
    expect(ticks).to_have_count(5)
    assert all(
        t.endswith("T06:00:00+00:00") for t in (x.get_attribute("datetime") or "" for x in ticks.all())
    )
    source = page.locator("table.source-lines tr")
    expect(source.first).to_contain_text("pipeline:")
    number = int(source.first.locator("td.line-no").inner_text())
    assert number >= 1 and source.nth(1).locator("td.line-no").inner_text() == str(number + 1)
    expect(page.locator("table.source-lines")).to_contain_text("matrix: {part: [zeta, alpha, mid]}")
    expect(page.locator("table.source-lines")).not_to_contain_text("ticker")  # only this template
    assert accessibility_violations(page) == []
    screenshot(page, "workflow-page.png", tmp_path)
    gate.locator("a.cell").nth(0).click()
    page.wait_for_url(f"**/runs/{failed}#job-load")


def test_run_page_timeline_error_source_logs_and_download(
    page: Page, server: Server, failed_and_fixed: tuple[str, str, Path], tmp_path: Path
) -> None:
    failed, _, _ = failed_and_fixed
    page.goto(f"{server.url}/runs/{failed}")
    expect(page.locator("#run-status")).to_have_text("FAILED")
    rows = page.locator("svg.timeline g.span")
    labels = [g.get_attribute("data-label") for g in rows.all()]
    assert labels == [
        "extract",
        "count",
        "check",
        "zeta",
        "first",
        "second",
        "alpha",
        "first",
        "second",
        "mid",
        "first",
        "second",
        "load",
        "prepare",
        "gate",
    ]  # strategies in the matrix's order although alpha finished first and zeta last
    expect(page.locator("svg.timeline g.span[data-label=gate]")).to_have_attribute("data-status", "FAILED")
    summaries = page.locator("#job-check summary").all_inner_texts()
    assert [s.split()[1] for s in summaries] == ["[zeta]", "[zeta]", "[alpha]", "[alpha]", "[mid]", "[mid]"]
    place = page.locator("ul.places a")
    expect(place).to_contain_text(re.compile(r"workflows\.yml, line \d+"))
    line = int(re.search(r"line (\d+)", place.inner_text()).group(1))  # type: ignore[union-attr]
    marked = page.locator("table.source-lines tr.marked")
    expect(marked).to_have_count(1)
    assert marked.get_attribute("id") == f"L{line}"
    expect(marked).to_contain_text("- id: gate")
    log = page.locator("#job-load pre.log").last  # a failed stage is open
    expect(log).to_be_visible()
    expect(log).to_contain_text("connection refused: no marker")
    assert re.match(r"\d\d:\d\d:\d\d\.\d\d\d", log.locator(".stamp").first.inner_text())
    assert accessibility_violations(page) == []
    screenshot(page, "run-page.png", tmp_path)
    timeline = page.locator("section", has=page.locator("#timeline-heading"))
    timeline.screenshot(path=str(tmp_path / "run-timeline.png"))
    if os.environ.get("RUNWRIGHT_SCREENSHOT_DIR"):  # docs/img, as screenshot() does
        Path(os.environ["RUNWRIGHT_SCREENSHOT_DIR"], "run-timeline.png").write_bytes(
            (tmp_path / "run-timeline.png").read_bytes()
        )
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the log").click()
    saved = Path(download.value.path())
    text = saved.read_text()
    assert download.value.suggested_filename == f"{failed}.log"
    assert "load/gate stderr: connection refused: no marker" in text
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} ", text)
    assert SECRET_VALUE not in text


def test_rerun_from_the_failed_job_with_the_params_form(
    page: Page, server: Server, failed_and_fixed: tuple[str, str, Path]
) -> None:
    failed, _, marker = failed_and_fixed
    page.goto(f"{server.url}/runs/{failed}")
    page.get_by_role("button", name="Rerun").click()
    dialog = page.locator("dialog[open]")
    expect(dialog.get_by_label("table")).to_have_value("orders")  # the run's own params
    expect(dialog.get_by_label("marker")).to_have_value(str(marker))
    key = dialog.get_by_label("api_key")
    expect(key).to_have_value("")  # a secret is never filled in
    assert key.get_attribute("type") == "password"
    assert SECRET_VALUE not in page.content() and "***" not in (key.input_value() or "")
    assert accessibility_violations(page) == []
    marker.write_text("ok")
    try:
        dialog.get_by_role("button", name="Rerun from the failed job").click()
        page.wait_for_url(lambda url: "/runs/" in url and failed not in url)
        expect(page.locator("#run-status")).to_have_text("SUCCESS")
    finally:
        marker.unlink()
    rerun_id = page.url.rsplit("/", 1)[1]
    record = server.client.get(server.api(f"/runs/{rerun_id}")).json()
    assert record["parent_run_id"] == failed and record["params"]["api_key"] == "***"
    for job in ("extract", "check"):  # every stage of what was reused says so
        summaries = page.locator(f"#job-{job} summary").all_inner_texts()
        assert summaries and all(s.endswith("reused") for s in summaries), summaries
    gate = page.locator("#job-load summary", has_text="gate")
    expect(gate).not_to_contain_text("reused")


def test_rerun_everything_sends_a_changed_param(page: Page, server: Server) -> None:
    marker = server.root / "rerun-all-marker"
    marker.write_text("ok")
    first = server.trigger("pipeline", {"marker": str(marker)})
    assert server.wait_status(first)["status"] == "SUCCESS"
    failing = server.trigger("pipeline", {"marker": str(server.root / "absent")})
    assert server.wait_status(failing)["status"] == "FAILED"
    page.goto(f"{server.url}/runs/{failing}")
    page.get_by_role("button", name="Rerun").click()
    dialog = page.locator("dialog[open]")
    dialog.get_by_label("table").fill("customers")
    dialog.get_by_label("marker").fill(str(marker))
    dialog.get_by_role("button", name="Rerun everything").click()
    page.wait_for_url(lambda url: "/runs/" in url and failing not in url)
    expect(page.locator("#run-status")).to_have_text("SUCCESS")
    expect(page.locator("#job-extract summary", has_text="count")).not_to_contain_text("reused")
    page.locator("summary", has_text="count").click()
    expect(page.locator("#job-extract pre.log")).to_contain_text("extracting customers")


def test_log_search_from_the_workflow_page_and_the_api(
    page: Page, server: Server, failed_and_fixed: tuple[str, str, Path]
) -> None:
    failed, fixed, _ = failed_and_fixed
    page.goto(f"{server.url}/workflows/pipeline")
    page.get_by_label("Search logs").fill("Connection REFUSED")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url("**/search?**")
    results = page.locator("table.search-results tbody tr")
    expect(results.first).to_be_visible()
    texts = results.all_inner_texts()
    assert any(failed in t and "connection refused: no marker" in t for t in texts)
    assert all(fixed not in t for t in texts)
    assert accessibility_violations(page) == []
    page.get_by_label("Words").fill("extracting sales")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("table.search-results tbody tr")).to_have_count(1)
    expect(page.locator("table.search-results")).to_contain_text(fixed)
    page.get_by_label("From").fill("2999-01-01")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_text("No log line holds every word")).to_be_visible()
    found = server.client.get(
        server.api("/logs/search"), params={"q": "checked zeta", "workflow": "pipeline"}
    )
    assert found.status_code == 200
    assert {line["run_id"] for line in found.json()} >= {failed, fixed}
    assert all(line["strategy"] == "zeta" for line in found.json())
    empty = server.client.get(server.api("/logs/search"), params={"q": "-- *"})
    assert empty.status_code == 422 and "no words" in empty.json()["detail"]


def test_live_tail_while_running_then_finished(page: Page, server: Server) -> None:
    run_id = server.trigger("ticker")
    page.goto(f"{server.url}/runs/{run_id}")
    tail = page.locator("#live-tail")
    expect(tail).to_contain_text("tick/loop stdout: tick 2")
    expect(page.locator("svg.timeline g.span[data-label=loop]")).to_have_attribute("data-status", "RUNNING")
    expect(page.locator("#run-status")).to_have_text("SUCCESS", timeout=WAIT_MS)
    expect(tail).to_contain_text("tick 8")


def test_dark_mode_pages_are_dark_and_pass_axe(
    browser: Browser, server: Server, failed_and_fixed: tuple[str, str, Path], tmp_path: Path
) -> None:
    failed, _, _ = failed_and_fixed
    context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme="dark")
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    try:
        sign_in(page, server)
        for path in ("/", "/workflows/pipeline", f"/runs/{failed}", "/search?q=refused"):
            page.goto(server.url + path)
            background = page.evaluate("getComputedStyle(document.body).backgroundColor")
            assert background == "rgb(13, 17, 23)", (path, background)
            assert accessibility_violations(page) == [], path
            if path.startswith("/workflows"):
                screenshot(page, "workflow-page-dark.png", tmp_path)
    finally:
        context.close()


def test_unknown_workflow_page_is_404(server: Server) -> None:
    signed = server.client.get(f"{server.url}/workflows/nope")
    assert signed.status_code == 404 and "no workflow named &#39;nope&#39;" in signed.text
    assert "workflows: pipeline, ticker" in signed.text


def test_new_pages_fit_a_phone(browser: Browser, server: Server, failed_and_fixed: tuple[str, str, Path]) -> None:
    failed, _, _ = failed_and_fixed
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    try:
        sign_in(page, server)
        for path in ("/workflows/pipeline", f"/runs/{failed}", "/search?q=connection+refused"):
            page.goto(server.url + path)
            width = page.evaluate("document.body.scrollWidth")
            assert width <= 390 + 1, f"{path} is {width}px wide on a 390px screen"
    finally:
        context.close()
