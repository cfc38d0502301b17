"""tasks/http-request@requests against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import base64
import json
import threading
from pathlib import Path

import pytest
from runwright_requests.errors import (
    ArgumentError,
    HttpConnectionError,
    HttpError4xx,
    HttpError5xx,
    HttpError429,
    HttpTimeout,
    OAuthTokenError,
    TaskCancelled,
)
from runwright_requests.tasks import http_request

TOKEN = "tok-S3cr3t-bearer-9f2"
PASSWORD = "pw-S3cr3t-basic-71a"
CLIENT_SECRET = "cs-S3cr3t-oauth-c4e"


def fast(**kwargs):
    """Small backoff so retries do not slow the suite (the delays are not asserted)."""
    return {"backoff": 0.01, "backoff_max": 2.0, "timeout": 5.0, **kwargs}


def leaks(secret: str, *things: object) -> bool:
    return any(secret in json.dumps(t, default=str) for t in things)


def test_bearer_auth_outputs_status_headers_and_json_body(http_server, reply, trace_lines):
    def api(seen):
        if seen.headers.get("Authorization") != f"Bearer {TOKEN}":
            return reply(status=401, body="missing token")
        # A careless API that echoes the credentials back: they must still not leak.
        return reply(
            json={"pairs": ["USD-THB"], "echo": seen.headers["Authorization"]},
            headers={"X-Request-Id": "abc", "X-Echo": seen.headers["Authorization"]},
        )

    http_server.route("/rates", api)
    out = http_request(
        url=http_server.url("/rates"),
        auth={"type": "bearer", "keys": TOKEN},
        trace=trace_lines.append,
        **fast(),
    )
    assert out["status_code"] == 200
    assert out["headers"]["X-Request-Id"] == "abc"
    assert out["body"]["pairs"] == ["USD-THB"]
    assert out["pages"] == 1 and out["body_path"] is None
    assert not leaks(TOKEN, out, trace_lines)
    assert out["body"]["echo"] == "Bearer ***"


def test_basic_auth_success_and_refusal(http_server, reply, trace_lines):
    good = "Basic " + base64.b64encode(f"ana:{PASSWORD}".encode()).decode()

    def api(seen):
        if seen.headers.get("Authorization") == good:
            return reply(json={"user": "ana"})
        return reply(status=401, body="bad credentials for " + seen.headers.get("Authorization", ""))

    http_server.route("/me", api)
    out = http_request(
        url=http_server.url("/me"), auth={"type": "basic", "username": "ana", "password": PASSWORD}
    )
    assert out["body"] == {"user": "ana"}

    with pytest.raises(HttpError4xx) as info:
        http_request(
            url=http_server.url("/me"),
            auth={"type": "basic", "username": "ana", "password": PASSWORD + "x"},
            trace=trace_lines.append,
            **fast(),
        )
    message = str(info.value)
    assert "401" in message and "bad credentials" in message
    assert PASSWORD not in message
    assert len(http_server.seen("/me")) == 2  # a 401 is not retried


def test_oauth_client_credentials_fetches_and_refreshes_the_token(http_server, reply, trace_lines):
    issued: list[str] = []

    def token_endpoint(seen):
        expected = "Basic " + base64.b64encode(f"app-1:{CLIENT_SECRET}".encode()).decode()
        if seen.headers.get("Authorization") != expected:
            return reply(status=401, json={"error": "invalid_client"})
        if seen.form().get("grant_type") != ["client_credentials"]:
            return reply(status=400, json={"error": "unsupported_grant_type"})
        token = f"access-{len(issued) + 1}-Zx81"
        issued.append(token)
        return reply(json={"access_token": token, "token_type": "bearer", "expires_in": 3600})

    def api(seen):
        # The first token is treated as revoked: the client must fetch a new one once.
        if issued and seen.headers.get("Authorization") == f"Bearer {issued[-1]}" and len(issued) > 1:
            return reply(json={"scope": seen.query.get("scope"), "ok": True})
        return reply(status=401, body="token expired")

    http_server.route("/oauth/token", token_endpoint, method="POST")
    http_server.route("/data", api)
    out = http_request(
        url=http_server.url("/data"),
        params={"scope": "read"},
        auth={
            "type": "oauth-client-credentials",
            "token-url": http_server.url("/oauth/token"),
            "client-id": "app-1",
            "client-secret": CLIENT_SECRET,
        },
        trace=trace_lines.append,
        **fast(),
    )
    assert out["body"] == {"scope": ["read"], "ok": True}
    assert len(http_server.seen("/oauth/token")) == 2
    for secret in [CLIENT_SECRET, *issued]:
        assert not leaks(secret, out, trace_lines)
    # tokens learnt at run time are registered with core's masker too (logs, audit, CLI)
    from runwright.masking import mask

    assert mask(f"token {issued[0]} and {issued[1]}") == "token *** and ***"


def test_oauth_token_endpoint_failure_is_reported(http_server, reply):
    http_server.route("/oauth/token", reply(status=400, json={"error": "invalid_scope"}), method="POST")
    with pytest.raises(OAuthTokenError) as info:
        http_request(
            url=http_server.url("/data"),
            auth={
                "type": "oauth-client-credentials",
                "token_url": http_server.url("/oauth/token"),
                "client_id": "app-1",
                "client_secret": CLIENT_SECRET,
                "client_auth": "body",
            },
            **fast(),
        )
    assert "400" in str(info.value) and "invalid_scope" in str(info.value)
    assert CLIENT_SECRET not in str(info.value)
    sent = http_server.seen("/oauth/token")[0].form()
    assert sent["client_id"] == ["app-1"]  # client-auth: body puts the credentials in the form


def test_missing_auth_field_is_named():
    with pytest.raises(ArgumentError, match="needs token-url"):
        http_request(
            url="http://127.0.0.1:9/x",
            auth={"type": "oauth-client-credentials", "client-id": "a", "client-secret": "b"},
        )


def test_link_header_pagination_concatenates_items(http_server, reply):
    base = http_server.url("/items")
    http_server.route(
        "/items",
        lambda seen: reply(
            json={"data": [{"n": int(seen.query["page"][0])}]},
            headers=(
                {"Link": f'<{base}?page={int(seen.query["page"][0]) + 1}>; rel="next"'}
                if seen.query["page"][0] != "3"
                else {}
            ),
        ),
    )
    out = http_request(url=base, params={"page": 1}, pagination={"type": "next-link", "items-path": "data"})
    assert out["body"] == [{"n": 1}, {"n": 2}, {"n": 3}]
    assert out["pages"] == 3 and out["has_more"] is False


def test_json_path_pagination_stops_at_the_page_limit(http_server, reply):
    def page(seen):
        n = int(seen.query.get("p", ["1"])[0])
        return reply(json={"rows": [n], "links": {"next": f"/feed?p={n + 1}"}})

    http_server.route("/feed", page)
    out = http_request(
        url=http_server.url("/feed"),
        pagination={"next-url-path": "$.links.next", "max-pages": 2},
    )
    assert out["pages"] == 2 and out["has_more"] is True
    assert [p["rows"] for p in out["body"]] == [[1], [2]]
    assert len(http_server.seen("/feed")) == 2


def test_429_waits_for_retry_after_then_succeeds(http_server, reply, trace_lines):
    http_server.route(
        "/limited",
        reply(status=429, body="slow down", headers={"Retry-After": "1"}),
        reply(json={"ok": True}),
    )
    out = http_request(url=http_server.url("/limited"), trace=trace_lines.append, **fast())
    assert out["body"] == {"ok": True}
    assert len(http_server.seen("/limited")) == 2
    assert any("HttpError429" in line and "in 1.00 s" in line for line in trace_lines)


def test_429_every_time_fails_with_its_own_class(http_server, reply):
    http_server.route("/limited", reply(status=429, body="no", headers={"Retry-After": "0"}))
    with pytest.raises(HttpError429, match="429"):
        http_request(url=http_server.url("/limited"), **fast(retries=2))
    assert len(http_server.seen("/limited")) == 3


def test_500_then_success_is_retried(http_server, reply):
    http_server.route("/flaky", reply(status=500, body="oops"), reply(json=[1, 2]))
    out = http_request(url=http_server.url("/flaky"), **fast())
    assert out["body"] == [1, 2]
    assert len(http_server.seen("/flaky")) == 2


def test_persistent_5xx_reports_status_and_first_500_bytes(http_server, reply):
    http_server.route("/down", reply(status=503, body="E" * 2000))
    with pytest.raises(HttpError5xx) as info:
        http_request(url=http_server.url("/down"), **fast(retries=1))
    message = str(info.value)
    assert "503" in message and "/down" in message
    assert "E" * 500 in message and "E" * 501 not in message
    assert info.value.status_code == 503
    assert len(http_server.seen("/down")) == 2


def test_4xx_is_not_retried(http_server, reply):
    http_server.route("/missing", reply(status=404, body="no such thing"))
    with pytest.raises(HttpError4xx, match="404.*no such thing"):
        http_request(url=http_server.url("/missing"), **fast())
    assert len(http_server.seen("/missing")) == 1


def test_timeout_is_retried_then_reported(http_server, reply):
    http_server.route("/slow", reply(json={"late": True}, delay=5))
    with pytest.raises(HttpTimeout, match="within 0.3 s"):
        http_request(url=http_server.url("/slow"), **fast(timeout=0.3, retries=1))
    assert len(http_server.seen("/slow")) == 2


def test_connection_refused_is_a_connection_error(unused_port):
    with pytest.raises(HttpConnectionError, match="failed"):
        http_request(url=f"http://127.0.0.1:{unused_port}/x", **fast(retries=1))


def test_post_sends_the_json_body(http_server, reply):
    http_server.route("/search", lambda seen: reply(json={"got": seen.json()}), method="POST")
    out = http_request(url=http_server.url("/search"), method="post", body={"resource": "USD-THB", "n": 2})
    assert out["body"] == {"got": {"resource": "USD-THB", "n": 2}}


def test_large_body_is_saved_to_a_file(http_server, reply, tmp_path: Path):
    payload = {"rows": ["x" * 100] * 2000}
    http_server.route("/big", reply(json=payload))
    out = http_request(url=http_server.url("/big"), max_inline_bytes=10_000, save_dir=str(tmp_path))
    assert out["body"] is None
    saved = Path(out["body_path"])
    assert saved.parent.parent == tmp_path
    assert json.loads(saved.read_bytes()) == payload
    assert out["body_bytes"] == saved.stat().st_size


def test_text_body_is_output_as_text(http_server, reply):
    http_server.route("/hello", reply(body="hello world"))
    assert http_request(url=http_server.url("/hello"))["body"] == "hello world"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"url": "ftp://x/y"}, "url must be an http"),
        ({"url": "http://127.0.0.1:9/", "method": "FETCH"}, "method must be one of"),
        ({"url": "http://127.0.0.1:9/", "json": {}, "body": "x"}, "either json or body"),
        ({"url": "http://127.0.0.1:9/", "timeout": 0}, "timeout must be > 0"),
        (
            {"url": "http://127.0.0.1:9/", "pagination": {"type": "json-path"}},
            "needs next-url-path",
        ),
    ],
)
def test_argument_errors_are_clear(kwargs, message):
    with pytest.raises(ArgumentError, match=message):
        http_request(**kwargs)


def test_cancel_stops_a_retry_wait(http_server, reply):
    http_server.route("/limited", reply(status=429, body="later", headers={"Retry-After": "30"}))
    cancel = threading.Event()
    timer = threading.Timer(0.3, cancel.set)
    timer.start()
    try:
        with pytest.raises(TaskCancelled):
            http_request(url=http_server.url("/limited"), cancel_event=cancel, retries=3)
    finally:
        timer.cancel()


def test_credentials_sent_as_headers_are_masked_too(http_server, reply, trace_lines):
    http_server.route("/echo", lambda seen: reply(json={"key": seen.headers.get("X-Api-Key")}))
    out = http_request(
        url=http_server.url("/echo"),
        headers={"X-Api-Key": "apikey-Hd93kq"},
        trace=trace_lines.append,
    )
    assert http_server.seen("/echo")[0].headers["X-Api-Key"] == "apikey-Hd93kq"
    assert out["body"] == {"key": "***"}
