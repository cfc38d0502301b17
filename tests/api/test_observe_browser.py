"""The observe pages in a real browser: Playwright driving Debian's Chromium (no browser download)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.base import AXE_SCRIPT
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.api.conftest import Server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WAIT_MS = 30_000


INSTALL_CHROMIUM = "apt-get install -y chromium (Debian's package; .ci/run installs it)"


def require_chromium() -> None:
    """Without Chromium: under CI (``CI=true``) the browser tests fail, elsewhere they are
    skipped with a reason that says how to install it."""
    if Path(CHROMIUM).exists():
        return
    message = f"Chromium is not installed at {CHROMIUM}; install it with: {INSTALL_CHROMIUM}"
    if os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}:
        pytest.fail(f"{message} (CI is set: the browser tests must run)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    require_chromium()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


def sign_in(page: Page, server: Server) -> None:
    """Open the sign-in link ``runwright serve`` printed (its token was made at start)."""
    assert server.login_url, server.printed
    page.goto(server.login_url)
    expect(page.get_by_role("heading", name="Workflows")).to_be_visible()


@pytest.fixture
def page(browser: Browser, server: Server) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(WAIT_MS)
    sign_in(opened, server)
    yield opened
    context.close()


def screenshot(page: Page, name: str, tmp_path: Path) -> None:
    """Always taken; also saved to $RUNWRIGHT_SCREENSHOT_DIR (docs/img) when set."""
    target = tmp_path / name
    page.screenshot(path=str(target), full_page=True)
    assert target.stat().st_size > 1000
    folder = os.environ.get("RUNWRIGHT_SCREENSHOT_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / name).write_bytes(target.read_bytes())


def accessibility_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core (bundled by axe-playwright-python) run in the page; serious ones only."""
    page.evaluate(AXE_SCRIPT)
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["html"][:120] for n in v["nodes"][:3]]}
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def test_fill_the_run_form_and_watch_the_run_reach_success(page: Page, server: Server, tmp_path: Path) -> None:
    page.goto(server.url + "/")
    expect(page.get_by_role("heading", name="Workflows")).to_be_visible()
    assert accessibility_violations(page) == []
    page.get_by_role("button", name="Run hello").click()
    dialog = page.get_by_role("dialog", name="Run hello")
    expect(dialog).to_be_visible()
    assert dialog.locator("input[name=day]").get_attribute("type") == "date"
    assert dialog.locator("select[name=colour] option").all_inner_texts() == ["(default)", "red", "green", "blue"]
    assert dialog.locator("input[name=times]").get_attribute("type") == "number"
    dialog.get_by_label("name").fill("grace")
    dialog.get_by_label("times").fill("2")
    dialog.get_by_label("day").fill("2024-05-06")
    dialog.get_by_label("colour").select_option("blue")
    dialog.get_by_role("button", name="Start run").click()
    page.wait_for_url("**/runs/*")
    expect(page.locator("#run-status")).to_have_text("SUCCESS")
    expect(page.locator("svg.dag g[data-job=greet]")).to_have_class("job status-success")
    expect(page.locator("svg.dag g[data-job=after]")).to_have_class("job status-success")
    page.locator("summary", has_text="say").click()  # a stage opens to its outputs and log lines
    expect(page.locator("pre.log", has_text="hello grace x2 on 2024-05-06 in blue")).to_be_visible()
    expect(page.locator("pre", has_text='"greeting": "hi-grace"')).to_be_visible()
    assert accessibility_violations(page) == []
    screenshot(page, "observe-run.png", tmp_path)
    page.goto(server.url + "/")
    expect(page.locator("tr", has_text="hello").get_by_text("SUCCESS")).to_be_visible()
    screenshot(page, "observe-workflows.png", tmp_path)


def test_bad_input_in_the_form_shows_the_params_message(page: Page, server: Server) -> None:
    page.goto(server.url + "/")
    page.get_by_role("button", name="Run flaky").click()
    dialog = page.get_by_role("dialog", name="Run flaky")
    dialog.get_by_label("marker").fill(" ")
    page.evaluate("document.querySelector('dialog[open] input[name=marker]').value = ''")
    page.evaluate("document.querySelector('dialog[open] input[name=marker]').removeAttribute('required')")
    dialog.get_by_role("button", name="Start run").click()
    expect(dialog.get_by_role("alert")).to_contain_text("param 'marker'")


def test_open_a_failed_run_and_press_rerun(page: Page, server: Server) -> None:
    marker = server.root / "browser-marker"
    run_id = server.trigger("flaky", {"marker": str(marker)})
    assert server.wait_status(run_id)["status"] == "FAILED"
    page.goto(f"{server.url}/runs/{run_id}")
    expect(page.locator("#run-status")).to_have_text("FAILED")
    expect(page.locator("svg.dag g[data-job=second]")).to_have_class("job status-failed")
    expect(page.get_by_role("button", name="Cancel")).to_have_count(0)
    marker.write_text("ok")
    page.get_by_role("button", name="Rerun").click()
    dialog = page.locator("dialog[open]")
    expect(dialog.get_by_label("marker")).to_have_value(str(marker))  # filled with the run's params
    dialog.get_by_role("button", name="Rerun from the failed job").click()
    page.wait_for_url(lambda url: "/runs/" in url and run_id not in url)
    expect(page.locator("#run-status")).to_have_text("SUCCESS")
    expect(page.get_by_role("link", name=run_id)).to_be_visible()  # "Rerun of" the failed run


def test_cancel_a_long_run_from_its_page(page: Page, server: Server) -> None:
    run_id = server.trigger("slow", {"seconds": 90})
    page.goto(f"{server.url}/runs/{run_id}")
    expect(page.locator("#run-status")).to_have_text("RUNNING")
    expect(page.get_by_text("napping").first).to_be_visible()  # the log line arrived live
    expect(page.locator("svg.dag g[data-job=wait]")).to_have_class("job status-running")
    assert accessibility_violations(page) == []
    page.get_by_role("button", name="Cancel").click()
    expect(page.locator("#run-status")).to_have_text("CANCEL")
    expect(page.get_by_role("button", name="Rerun")).to_be_visible()
    assert server.client.get(server.api(f"/runs/{run_id}")).json()["status"] == "CANCEL"


def test_matrix_job_is_one_node_with_counts(page: Page, server: Server) -> None:
    run_id = server.trigger("fanout")
    assert server.wait_status(run_id)["status"] == "SUCCESS"
    page.goto(f"{server.url}/runs/{run_id}")
    node = page.locator("svg.dag g[data-job=build]")
    expect(node).to_have_count(1)
    expect(node).to_contain_text("4 runs: 4 SUCCESS")
    expect(page.locator("svg.dag g.job")).to_have_count(2)


def test_runs_list_filters_and_pages(page: Page, server: Server) -> None:
    for _ in range(3):
        server.wait_status(server.trigger("quick"))
    page.goto(f"{server.url}/runs?limit=2")
    expect(page.get_by_role("link", name="Older runs")).to_be_visible()
    page.get_by_label("Workflow").select_option("quick")
    page.get_by_label("Status").select_option("SUCCESS")
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(2)
    for text in rows.all_inner_texts():
        assert "quick" in text and "SUCCESS" in text
    page.get_by_role("link", name="Older runs").click()
    expect(page.locator("tbody tr").first).to_contain_text("quick")
    assert accessibility_violations(page) == []


def test_phone_width_and_keyboard(browser: Browser, server: Server) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    try:
        sign_in(page, server)
        body_width = page.evaluate("document.body.scrollWidth")
        assert body_width <= 390 + 1, f"page is {body_width}px wide on a 390px screen"
        for _ in range(40):  # tab to the first Run button and open it with the keyboard
            page.keyboard.press("Tab")
            focused = page.evaluate("document.activeElement.tagName + ' ' + document.activeElement.textContent")
            if focused.startswith("BUTTON Run"):
                break
        else:
            raise AssertionError("no Run button reachable with Tab")
        page.keyboard.press("Enter")
        expect(page.locator("dialog[open]")).to_be_visible()
        assert page.evaluate("document.activeElement.closest('dialog') !== null")
        page.keyboard.press("Escape")
        expect(page.locator("dialog[open]")).to_have_count(0)
        assert accessibility_violations(page) == []
    finally:
        context.close()


def test_pages_need_the_token_or_the_login_form(browser: Browser, secured: Server) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    try:
        page.goto(secured.url + "/runs")
        page.wait_for_url(lambda url: "/login?next=" in url)
        assert accessibility_violations(page) == []
        page.get_by_label("API token").fill("wrong")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("alert")).to_have_text("That token is not right.")
        page.get_by_label("API token").fill(secured.token or "")
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/runs")
        expect(page.get_by_role("heading", name="Runs")).to_be_visible()
        answer = page.evaluate("fetch('/api/v1/workflows').then(r => r.status)")
        assert answer == 200
        assert json.dumps(context.cookies()).count("runwright_session") == 1
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url("**/login")
        assert page.evaluate("fetch('/api/v1/workflows').then(r => r.status)") == 401
    finally:
        context.close()


ATTACK_PAGE = """<!doctype html><html><body>
<form id="f" method="post" action="{target}/api/v1/workflows/quick/runs" enctype="text/plain"></form>
<script>
fetch("{target}/api/v1/workflows/quick/runs", {{method: "POST", mode: "no-cors"}})
  .finally(() => {{ document.title = "fetched"; document.getElementById("f").submit(); }});
</script></body></html>"""


def test_a_page_on_another_site_cannot_start_a_run_or_read_by_rebinding(browser: Browser, tmp_path: Path) -> None:
    """Chromium with evil.example and rebind.evil.example resolving to 127.0.0.1 (as a rebinding
    DNS server answers): the attacker's page posts to the server, then loads it under its own
    name; the server runs without a token, so only the Host and Origin checks stand in the way."""
    import http.server
    import threading

    from tests.api.conftest import start_server, stop_server

    running = start_server(tmp_path, extra_args=("--no-token",))
    port = int(running.url.rsplit(":", 1)[1])
    page_html = ATTACK_PAGE.format(target=running.url).encode()

    class AttackPage(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page_html)))
            self.end_headers()
            self.wfile.write(page_html)

        def log_message(self, *args: Any) -> None:
            pass

    attacker = http.server.ThreadingHTTPServer(("127.0.0.1", 0), AttackPage)
    threading.Thread(target=attacker.serve_forever, daemon=True).start()
    rules = "MAP evil.example 127.0.0.1, MAP rebind.evil.example 127.0.0.1"
    try:
        # a second Chromium from the same Playwright (a nested sync_playwright() would fail)
        resolving = browser.browser_type.launch(
            executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, f"--host-resolver-rules={rules}"], headless=True
        )
        try:
            page = resolving.new_page()
            page.set_default_timeout(WAIT_MS)
            page.goto(f"http://evil.example:{attacker.server_address[1]}/")
            page.wait_for_url(f"{running.url}/**")  # the form was posted: the browser is on the answer
            assert "cross-site request" in page.content()
            answer = page.goto(f"http://rebind.evil.example:{port}/api/v1/workflows")
            assert answer is not None and answer.status == 403
            assert "forbidden host" in page.content() and "quick" not in page.content()
        finally:
            resolving.close()
        runs = running.client.get(running.api("/audits")).json()["items"]
        assert runs == []  # neither the fetch nor the form started a run
    finally:
        attacker.shutdown()
        stop_server(running)
