"""The runs list and pause button in Chromium (issue 26): at 375 px nothing overflows and no
column is cut; filters and pause work from the page; axe finds nothing serious."""

# ruff: noqa: F811  (the ``browser`` fixture is imported from the observe pages' tests)

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.api.conftest import Server, start_server, stop_server
from tests.api.test_observe_browser import (  # noqa: F401  (the browser fixture)
    WAIT_MS,
    accessibility_violations,
    browser,
    screenshot,
    sign_in,
)
from tests.api.test_runs_list import CONF, start

PHONE = {"width": 375, "height": 812}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("runs-browser")
    running = start_server(
        root,
        extra_args=("--workers", "0"),
        env={"RUNWRIGHT_AUDIT_URL": f"sqlite:///{root / 'audit.db'}"},
        conf_text=CONF,
    )
    start(running, "tagged", labels={"team": "finance", "ticket": "OPS-1234567890-long-label-value"})
    start(
        running, "tagged", labels={"team": "ops"}, params={"region": "a-very-long-region-name-without-spaces"}
    )
    start(running, "plain")
    yield running
    stop_server(running)


def open_page(browser: Browser, server: Server, path: str, viewport: dict) -> tuple[Page, object]:
    context = browser.new_context(viewport=viewport, is_mobile=viewport["width"] < 600)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    sign_in(page, server)
    page.goto(server.url + path)
    return page, context


def test_runs_list_at_phone_width_shows_every_column_inside_the_screen(
    browser: Browser, served: Server, tmp_path: Path
) -> None:
    page, context = open_page(browser, served, "/runs", PHONE)
    try:
        expect(page.get_by_role("heading", name="Runs")).to_be_visible()
        widths = page.evaluate("[document.documentElement.scrollWidth, document.body.scrollWidth]")
        assert max(widths) <= PHONE["width"], f"the page is {widths}px wide on a {PHONE['width']}px screen"
        cells = page.evaluate(
            """[...document.querySelectorAll('#runs-table tbody td')].map(td => {
                 const box = td.getBoundingClientRect();
                 return {label: td.dataset.label, left: box.left, right: box.right, width: box.width,
                         clipped: td.scrollWidth > td.clientWidth + 1};
               })"""
        )
        assert len(cells) == 3 * 9
        for cell in cells:  # every column of every run, whole and on screen
            assert cell["width"] > 0 and cell["left"] >= 0, cell
            assert cell["right"] <= PHONE["width"], cell
            assert not cell["clipped"], cell
        labels = {cell["label"] for cell in cells}
        assert labels == {
            "Run", "Workflow", "Status", "Started by", "Logical date", "Started", "Ended", "Duration",
            "Tags and labels",
        }  # fmt: skip
        shown = page.evaluate(
            "[...document.querySelectorAll('#runs-table tbody tr:first-child td')]"
            ".map(td => getComputedStyle(td, '::before').content)"
        )
        assert shown[7] == '"Duration"', shown  # on a phone each value says which column it is
        screenshot(page, "runs-list-phone.png", tmp_path)
        assert accessibility_violations(page) == []
    finally:
        context.close()


def test_filter_by_label_tag_and_text_from_the_page(browser: Browser, served: Server, tmp_path: Path) -> None:
    page, context = open_page(browser, served, "/runs", {"width": 1280, "height": 900})
    try:
        screenshot(page, "runs-list.png", tmp_path)
        page.get_by_label("Label").fill("team=finance")
        page.get_by_role("button", name="Filter").click()
        rows = page.locator("#runs-table tbody tr")
        expect(rows).to_have_count(1)
        expect(rows.first).to_contain_text("team=finance")
        page.goto(served.url + "/runs")
        page.get_by_label("Text").fill("very-long-region")
        page.get_by_role("button", name="Filter").click()
        expect(rows).to_have_count(1)
        expect(rows.first).to_contain_text("team=ops")
        page.goto(served.url + "/runs")
        page.locator("#runs-table a.chip", has_text="daily").first.click()  # a tag is a filter link
        expect(rows).to_have_count(2)
        assert accessibility_violations(page) == []
    finally:
        context.close()


def test_pause_and_unpause_from_the_workflow_listing(browser: Browser, served: Server) -> None:
    page, context = open_page(browser, served, "/", {"width": 1280, "height": 900})
    try:
        # exact: a role name matches as a substring by default, and "Unpause tagged" holds "pause tagged"
        page.get_by_role("button", name="Pause tagged", exact=True).click()
        expect(page.get_by_role("button", name="Unpause tagged")).to_be_visible()
        row = page.locator("tr", has=page.get_by_role("button", name="Unpause tagged"))
        expect(row).to_contain_text("paused")
        assert served.client.get(served.api("/workflows/tagged")).json()["paused"]["by"] == "api"
        page.goto(served.url + "/runs")
        expect(page.locator("#runs-table").get_by_text("paused").first).to_be_visible()
        page.goto(served.url + "/")
        assert accessibility_violations(page) == []
        page.get_by_role("button", name="Unpause tagged").click()
        expect(page.get_by_role("button", name="Pause tagged", exact=True)).to_be_visible()  # reloaded
        assert served.client.get(served.api("/workflows/tagged")).json()["paused"] is None
    finally:
        context.close()
