"""``runwright serve`` against other web sites and hostile requests, on a real server on 127.0.0.1.

A page the user visits can send requests to 127.0.0.1 (cross-site requests), or resolve its own
name to 127.0.0.1 (DNS rebinding); neither may start, read or cancel a run.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import SECRET_VALUE, Server, start_server, stop_server
from tests.conftest import run_cli

TOKEN = "tok-" + "z" * 24


@pytest.fixture(scope="module")
def default(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``runwright serve`` as a user starts it: no token set, no options."""
    running = start_server(tmp_path_factory.mktemp("api-default"))
    yield running
    stop_server(running)


def port_of(server: Server) -> int:
    return int(server.url.rsplit(":", 1)[1])


def run_count(server: Server) -> int:
    return len(server.client.get(server.api("/audits"), params={"limit": 500}).json()["items"])


def signed_in(server: Server) -> httpx.Client:
    """A browser-like client holding a session cookie from the printed sign-in link."""
    assert server.login_url, server.printed
    client = httpx.Client(timeout=30)
    answer = client.get(server.login_url, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return client


# -- the default: a token made at start, printed once with a sign-in link -------------------------


def test_serve_without_a_token_makes_one_and_prints_a_sign_in_link_once(tmp_path: Path) -> None:
    running = start_server(tmp_path)
    try:
        assert running.login_url and running.token, running.printed
        assert len(running.token) >= 32
        assert running.login_url == f"{running.url}/login?token={running.token}"
        anonymous = httpx.Client(timeout=30)
        for path in ("/workflows", "/audits", "/metrics"):
            assert anonymous.get(running.api(path)).status_code == 401
        refused = anonymous.post(running.api("/workflows/quick/runs"))
        assert refused.status_code == 401
        assert (
            anonymous.get(
                running.url + "/", headers={"Accept": "text/html"}, follow_redirects=False
            ).status_code
            == 303
        )
        assert running.client.get(running.api("/workflows")).status_code == 200  # the bearer token

        landed = anonymous.get(running.login_url + "&next=/runs", follow_redirects=False)
        assert landed.status_code == 303 and landed.headers["location"] == "/runs"
        assert running.token not in landed.headers["location"]
        assert anonymous.get(running.url + "/runs").status_code == 200  # the session cookie now
        wrong = httpx.get(f"{running.url}/login?token={'x' * 43}", follow_redirects=False, timeout=30)
        assert wrong.status_code == 401
        from_elsewhere = httpx.get(running.login_url, headers={"Sec-Fetch-Site": "cross-site"}, timeout=30)
        assert from_elsewhere.status_code == 403 and "set-cookie" not in from_elsewhere.headers
        anonymous.close()
    finally:
        stop_server(running)
    rest = running.process.stdout.read() if running.process.stdout else ""
    assert (running.printed + rest).count(running.token) == 1  # printed once, never again


def test_short_tokens_are_refused() -> None:
    for short in ("short", "x" * 15):
        result = run_cli("serve", "--port", "0", env={"RUNWRIGHT_API_TOKEN": short})
        assert result.returncode == 2
        assert "RUNWRIGHT_API_TOKEN" in result.stderr and "at least 16 characters" in result.stderr
        assert short not in result.stderr and "Traceback" not in result.stderr


def test_no_token_is_only_for_loopback_and_not_with_a_token() -> None:
    public = run_cli(
        "serve", "--host", "0.0.0.0", "--port", "0", "--no-token", env={"RUNWRIGHT_API_TOKEN": ""}
    )
    assert public.returncode == 2 and "--no-token is only for a loopback host, not '0.0.0.0'" in public.stderr
    both = run_cli("serve", "--port", "0", "--no-token", env={"RUNWRIGHT_API_TOKEN": TOKEN})
    assert both.returncode == 2 and "--no-token and RUNWRIGHT_API_TOKEN contradict each other" in both.stderr


# -- Host (DNS rebinding) and Origin (cross-site requests), in every mode -------------------------

MODES = pytest.mark.parametrize("mode", ["generated", "token", "no-token"])


def start_in_mode(root: Path, mode: str, *extra: str) -> Server:
    if mode == "token":
        return start_server(root, token=TOKEN, extra_args=extra)
    return start_server(root, extra_args=(*extra, "--no-token") if mode == "no-token" else extra)


@MODES
def test_a_rebound_host_name_is_refused(tmp_path: Path, mode: str) -> None:
    running = start_in_mode(tmp_path, mode, "--allow-host", "runwright.test")
    try:
        port = port_of(running)
        before = run_count(running)
        evil = {"Host": f"rebind.evil.example:{port}"}
        for path in ("/workflows", "/healthz", "/audits"):
            refused = running.client.get(running.api(path), headers=evil)
            assert refused.status_code == 403, refused.text
            assert refused.json()["error"] == "forbidden host"
        assert running.client.get(running.url + "/", headers=evil).status_code == 403
        trigger = running.client.post(
            running.api("/workflows/hello/runs"), json={"params": {"name": "attacker"}}, headers=evil
        )
        assert trigger.status_code == 403
        assert running.client.get(running.api("/workflows"), headers={"Host": ""}).status_code in (400, 403)
        assert (
            running.client.get(
                running.api("/workflows"), headers={"Host": "127.0.0.1.evil.example"}
            ).status_code
            == 403
        )
        assert run_count(running) == before
        for host in (
            f"127.0.0.1:{port}",
            f"localhost:{port}",
            "localhost",
            f"runwright.test:{port}",
            "RUNWRIGHT.test",
        ):
            assert running.client.get(running.api("/workflows"), headers={"Host": host}).status_code == 200, (
                host
            )
    finally:
        stop_server(running)


@MODES
def test_a_cross_site_post_is_refused(tmp_path: Path, mode: str) -> None:
    running = start_in_mode(tmp_path, mode)
    try:
        port = port_of(running)
        before = run_count(running)
        trigger = running.api("/workflows/quick/runs")
        for headers in (
            {"Origin": "https://evil.example"},
            {"Origin": "null"},
            {"Origin": f"http://127.0.0.1:{port + 1}"},  # another local web app
            {"Origin": f"http://localhost.evil.example:{port}"},
            {"Sec-Fetch-Site": "cross-site"},
            {"Sec-Fetch-Site": "same-site"},
        ):
            refused = running.client.post(trigger, headers=headers)  # body-less, as a form or fetch sends it
            assert refused.status_code == 403, (headers, refused.text)
            assert refused.json()["error"] == "cross-site request"
            assert running.client.post(trigger, json={}, headers=headers).status_code == 403
        assert (
            running.client.post(
                running.api("/runs/anything/cancel"), headers={"Origin": "https://evil.example"}
            ).status_code
            == 403
        )
        login = httpx.post(
            running.url + "/login",
            data={"token": "x"},
            headers={"Origin": "https://evil.example"},
            timeout=30,
        )
        assert login.status_code == 403
        assert run_count(running) == before
        for headers in (
            {},  # curl, scripts
            {"Origin": running.url, "Sec-Fetch-Site": "same-origin"},  # the observe pages
            {
                "Origin": "null",
                "Sec-Fetch-Site": "same-origin",
            },  # Chromium's form post under some referrer policies
            {"Origin": f"http://localhost:{port}", "Host": f"localhost:{port}"},
        ):
            accepted = running.client.post(trigger, headers=headers)
            assert accepted.status_code == 202, (headers, accepted.text)
        assert (
            running.client.get(
                running.api("/workflows"), headers={"Sec-Fetch-Site": "cross-site"}
            ).status_code
            == 200
        )
    finally:
        stop_server(running)


# -- sessions and sign-in -----------------------------------------------------------------------


def login(server: Server, client: httpx.Client, given: str) -> httpx.Response:
    return client.post(server.url + "/login", data={"token": given, "next": "/runs"}, follow_redirects=False)


def test_sessions_are_random_per_login_expire_and_end_at_sign_out(tmp_path: Path) -> None:
    running = start_server(tmp_path, token=TOKEN, extra_args=("--session-seconds", "3"))
    first, second = httpx.Client(timeout=30), httpx.Client(timeout=30)
    try:
        answers = [login(running, client, TOKEN) for client in (first, second)]
        assert [a.status_code for a in answers] == [303, 303]
        cookies = [a.headers["set-cookie"] for a in answers]
        values = [c.split(";")[0].split("=", 1)[1] for c in cookies]
        assert values[0] != values[1] and len(values[0]) >= 32
        derived = hmac.new(TOKEN.encode(), b"runwright-session", hashlib.sha256).hexdigest()
        assert derived not in values and TOKEN not in values[0]
        for attribute in ("HttpOnly", "SameSite=strict", "Max-Age=3", "Path=/"):
            assert attribute.lower() in cookies[0].lower(), cookies[0]
        assert first.get(running.api("/workflows")).status_code == 200
        assert second.get(running.api("/workflows")).status_code == 200
        bye = first.post(running.url + "/logout", follow_redirects=False)
        assert bye.status_code == 303 and bye.headers["location"] == "/login"
        stale = httpx.Client(timeout=30, cookies={"runwright_session": values[0]})
        assert stale.get(running.api("/workflows")).status_code == 401  # the session is gone on the server
        assert first.get(running.api("/workflows")).status_code == 401
        assert second.get(running.api("/workflows")).status_code == 200
        forged = httpx.Client(timeout=30, cookies={"runwright_session": derived})
        assert forged.get(running.api("/workflows")).status_code == 401
        deadline = time.monotonic() + 15
        while second.get(running.api("/workflows")).status_code == 200:
            assert time.monotonic() < deadline, "the session never expired"
            time.sleep(0.25)
        assert second.get(running.api("/workflows")).status_code == 401
        for client in (stale, forged):
            client.close()
    finally:
        first.close()
        second.close()
        stop_server(running)


def test_failed_sign_ins_are_throttled(tmp_path: Path) -> None:
    running = start_server(tmp_path, token=TOKEN)
    client = httpx.Client(timeout=30)
    try:
        for guess in range(10):  # a web page's guesses are refused before they are checked or counted
            foreign = client.post(
                running.url + "/login",
                data={"token": f"page-{guess}"},
                headers={"Origin": "https://evil.example"},
            )
            assert foreign.status_code == 403
        for guess in range(3):
            assert login(running, client, f"guess-{guess}-{'x' * 16}").status_code == 401
        for guess in range(2):
            wrong = client.get(
                running.api("/workflows"), headers={"Authorization": f"Bearer bad-{guess}-{'y' * 16}"}
            )
            assert wrong.status_code == 401
        throttled = login(running, client, TOKEN)  # even the right token, so guessing stops here
        assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) > 0
        assert "Traceback" not in throttled.text
        api = client.get(running.api("/workflows"), headers={"Authorization": f"Bearer {TOKEN}"})
        assert api.status_code == 429
        assert client.get(running.api("/healthz")).status_code == 200
    finally:
        client.close()
        stop_server(running)


# -- what pages send and what they never echo ------------------------------------------------------


def test_pages_send_csp_frame_and_sniffing_headers(default: Server) -> None:
    browser = signed_in(default)
    try:
        for path in ("/", "/runs", "/login", "/runs/nope", "/api/v1/workflows", "/static/app.js"):
            answer = browser.get(default.url + path, headers={"Accept": "text/html"})
            csp = answer.headers.get("content-security-policy", "")
            assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, (path, csp)
            assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "object-src 'none'" in csp
            assert answer.headers.get("x-frame-options") == "DENY", path
            assert answer.headers.get("x-content-type-options") == "nosniff", path
            assert answer.headers.get("referrer-policy") == "same-origin", path
        refused = httpx.get(default.api("/workflows"), headers={"Host": "evil.example"}, timeout=30)
        assert refused.headers.get("x-content-type-options") == "nosniff"
        docs = browser.get(default.url + "/docs")
        assert docs.status_code == 200 and "frame-ancestors 'none'" in docs.headers["content-security-policy"]
    finally:
        browser.close()


def test_pages_never_echo_a_secret_from_the_url(default: Server) -> None:
    browser = signed_in(default)
    try:
        assert default.token
        for run_id in (SECRET_VALUE, f"x-{SECRET_VALUE}-y", default.token):
            for path in (f"/runs/{run_id}", f"/runs/{run_id}/fragment"):
                page = browser.get(default.url + path, headers={"Accept": "text/html"})
                assert page.status_code == 404 and "text/html" in page.headers["content-type"]
                assert run_id not in page.text and "***" in page.text, page.text
            answer = default.client.get(default.api(f"/runs/{run_id}"))
            assert answer.status_code == 404 and run_id not in answer.text
        for path in (
            f"/runs?workflow={SECRET_VALUE}",
            f"/login?next=/{SECRET_VALUE}",
            f"/runs?cursor={SECRET_VALUE}",
        ):
            page = browser.get(default.url + path, headers={"Accept": "text/html"})
            assert page.status_code == 200 and SECRET_VALUE not in page.text, path
    finally:
        browser.close()


# -- bodies and odd ids --------------------------------------------------------------------------


def raw_post(server: Server, path: str, chunks: list[bytes], headers: dict[str, str]) -> tuple[int, str]:
    """POST with ``Transfer-Encoding: chunked`` (no Content-Length), as a streaming client sends it."""
    host, port = server.url.split("//")[1].split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.request("POST", path, body=iter(chunks), headers=headers, encode_chunked=True)
        answer = connection.getresponse()
        return answer.status, answer.read().decode()
    finally:
        connection.close()


def test_a_chunked_body_over_the_cap_is_413_like_a_sized_one(default: Server) -> None:
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {default.token}"}
    path = "/api/v1/workflows/hello/runs"
    big = b'{"params": {"name": "' + b"x" * 66_000 + b'"}}'
    status, text = raw_post(default, path, [big[i : i + 8192] for i in range(0, len(big), 8192)], headers)
    assert status == 413 and "request body too large" in text
    sized = default.client.post(default.api("/workflows/hello/runs"), content=big, headers=headers)
    assert sized.status_code == 413 and sized.json()["error"] == "request body too large"
    small = b'{"params": {"name": "chunked"}}'
    status, text = raw_post(default, path, [small[:10], small[10:]], headers)
    assert status == 202, text


HOSTILE_BODIES = {
    "30,000 nested lists": b'{"params": {"name": ' + b"[" * 30_000 + b"]" * 30_000 + b"}}",
    "10,000 nested maps": b'{"params": {"name": ' + b'{"a":' * 10_000 + b"1" + b"}" * 10_000 + b"}}",
    "100 nested lists": b'{"params": {"name": ' + b"[" * 100 + b"]" * 100 + b"}}",
    "NaN": b'{"params": {"name": NaN}}',
    "NaN int": b'{"params": {"name": "x", "times": NaN}}',
    "Infinity": b'{"params": {"name": Infinity}}',
    "-Infinity": b'{"params": {"name": -Infinity}}',
    "1e999": b'{"params": {"name": 1e999}}',
    "-1e999 int": b'{"params": {"name": "x", "times": -1e999}}',
    "lone surrogate": b'{"params": {"name": "\\ud800"}}',
    "lone low surrogate": b'{"params": {"name": "a\\udfffb"}}',
    "lone surrogate key": b'{"params": {"\\udc00": "x"}}',
    "surrogate in a list": b'{"params": {"name": ["ok", "\\ud83d"]}}',
    "CESU-8 bytes": b'{"params": {"name": "\xed\xa0\x80"}}',
    "invalid UTF-8": b'{"params": {"name": "\xff\xfe"}}',
    "5,000-digit integer": b'{"params": {"name": "x", "times": ' + b"9" * 5000 + b"}}",
}


@pytest.mark.parametrize("name", list(HOSTILE_BODIES))
def test_hostile_json_is_422_never_500(default: Server, name: str) -> None:
    body = HOSTILE_BODIES[name]
    before = run_count(default)
    for path, extra in (("/workflows/hello/runs", b""), ("/workflows/hello/releases", b"")):
        if path.endswith("releases"):
            body_sent = body.replace(
                b'{"params"', b'{"logical_date": "2024-01-01T00:00:00+00:00", "params"', 1
            )
        else:
            body_sent = body + extra
        answer = default.client.post(
            default.api(path), content=body_sent, headers={"Content-Type": "application/json"}
        )
        assert answer.status_code == 422, (name, path, answer.status_code, answer.text[:300])
        assert (
            answer.json()["error"] in ("invalid request", "invalid params") and "Traceback" not in answer.text
        )
    assert run_count(default) == before
    assert default.client.get(default.api("/healthz")).json()["status"] == "ok"


def test_a_long_or_odd_run_id_is_404_not_500(default: Server) -> None:
    browser = signed_in(default)
    try:
        for run_id in ("a" * 5000, "20240101T000000-" + "7" * 300, "x%00y", "%ED%A0%80", ".hidden", "a\\b"):
            for method, path in (
                ("GET", f"/api/v1/runs/{run_id}"),
                ("GET", f"/api/v1/runs/{run_id}/logs"),
                ("POST", f"/api/v1/runs/{run_id}/cancel"),
                ("POST", f"/api/v1/runs/{run_id}/rerun"),
            ):
                answer = default.client.request(method, default.url + path)
                assert answer.status_code == 404, (run_id[:40], path[:60], answer.text[:200])
                assert answer.json()["error"] == "not found" and len(answer.text) < 1000
            for path in (f"/runs/{run_id}", f"/runs/{run_id}/fragment"):
                page = browser.get(default.url + path, headers={"Accept": "text/html"})
                assert page.status_code == 404, (run_id[:40], path[:60], page.text[:200])
                assert len(page.text) < 5000
    finally:
        browser.close()
