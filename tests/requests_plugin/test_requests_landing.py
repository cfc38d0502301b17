"""tasks/get-api-with-oauth-to-s3@requests: a real HTTP server and moto's S3 server on loopback."""

from __future__ import annotations

import hashlib
import json

import pytest
from runwright_requests.errors import (
    ArgumentError,
    HttpConnectionError,
    HttpError5xx,
    LandingError,
    S3Error,
)
from runwright_requests.tasks import get_api_with_oauth_to_s3

TOKEN = "refresh-T0ken-landing-5d1"
MIB = 1024 * 1024


def land(s3, http_server, path="/pairs", **kwargs):
    arguments = {
        "url": http_server.url(path),
        "aws_s3_path": f"{s3.bucket}/open-data/USD-THB",
        "backoff": 0.01,
        **s3.aws,
        **kwargs,
    }
    return get_api_with_oauth_to_s3(**arguments)


def big_json_array(total_bytes: int) -> tuple[bytes, int]:
    """A JSON list of nested records of about `total_bytes`; returns (body, record count)."""
    record = {"id": 0, "pair": "USD-THB", "rate": {"bid": 35.1, "ask": 35.2}, "pad": "x" * 180}
    size = len(json.dumps(record)) + 1
    count = total_bytes // size
    rows = (json.dumps({**record, "id": i}) for i in range(count))
    return ("[" + ",".join(rows) + "]").encode(), count


def chunked(payload: bytes, size: int = 256 * 1024):
    return lambda: (payload[i : i + size] for i in range(0, len(payload), size))


def test_flatten_mode_lands_every_page_as_json_lines(s3, http_server, reply, trace_lines):
    base = http_server.url("/pairs")

    def api(seen):
        if seen.headers.get("Authorization") != f"Bearer {TOKEN}":
            return reply(status=401, body="who are you?")
        page = int(seen.query.get("page", ["1"])[0])
        rows = [{"id": page * 10 + i, "rate": {"bid": 1.5, "ask": {"value": 1.6}}} for i in range(3)]
        headers = {"Link": f'<{base}?page=2>; rel="next"'} if page == 1 else {}
        return reply(json=rows, headers=headers)

    http_server.route("/pairs", api, method="POST")
    http_server.route("/pairs", api, method="GET")
    out = land(
        s3,
        http_server,
        method="post",
        body={"resource": "USD-THB", "filter": "20240101"},
        auth={"type": "bearer", "keys": TOKEN},
        writing_mode="flatten",
        trace=trace_lines.append,
    )
    assert out["keys"] == [
        "open-data/USD-THB/page-00001.jsonl",
        "open-data/USD-THB/page-00002.jsonl",
    ]
    assert out["records"] == 6 and out["pages"] == 2
    lines = s3.read(out["keys"][0]).decode().splitlines()
    assert json.loads(lines[0]) == {"id": 10, "rate_bid": 1.5, "rate_ask_value": 1.6}
    assert out["bytes"] == sum(len(s3.read(k)) for k in out["keys"])
    first, second = http_server.seen("/pairs")
    assert (first.method, second.method) == ("POST", "GET")  # next links are fetched with GET
    assert first.json() == {"resource": "USD-THB", "filter": "20240101"}
    for secret in (TOKEN, s3.aws["aws_access_client_secret"]):
        assert secret not in json.dumps(out) and secret not in "\n".join(trace_lines)


def test_raw_mode_writes_the_body_as_received(s3, http_server, reply):
    body = b'{"data": [{"a": 1}, {"a": 2}], "meta": {"count": 2}}'
    http_server.route("/pairs", reply(body=body, headers={"Content-Type": "application/json"}))
    out = land(s3, http_server, writing_mode="raw", records_path="data")
    assert out["keys"] == ["open-data/USD-THB/page-00001.json"]
    assert s3.read(out["keys"][0]) == body
    assert out["records"] == 2 and out["bytes"] == len(body)


def test_json_path_pagination_with_records_path(s3, http_server, reply):
    def api(seen):
        page = int(seen.query.get("cursor", ["1"])[0])
        nxt = f"/pairs?cursor={page + 1}" if page < 3 else None
        return reply(json={"data": [{"page": page}] * 2, "links": {"next": nxt}})

    http_server.route("/pairs", api)
    out = land(
        s3,
        http_server,
        writing_mode="flatten",
        records_path="data",
        pagination={"next-url-path": "links.next"},
    )
    assert out["pages"] == 3 and out["records"] == 6
    assert s3.read(out["keys"][2]).decode().splitlines() == ['{"page":3}', '{"page":3}']


@pytest.mark.parametrize("mode", ["raw", "flatten"])
def test_a_large_body_is_streamed_as_a_multipart_upload(s3, http_server, reply, mode):
    payload, count = big_json_array(12 * MIB)
    http_server.route("/pairs", reply(chunks=chunked(payload), length=len(payload)))
    out = land(s3, http_server, writing_mode=mode)
    key = out["keys"][0]
    head = s3.client.head_object(Bucket=s3.bucket, Key=key)
    assert "-" in head["ETag"]  # S3 ETags of multipart objects end in -<parts>
    assert out["records"] == count
    stored = s3.read(key)
    if mode == "raw":
        assert hashlib.sha256(stored).digest() == hashlib.sha256(payload).digest()
    else:
        lines = stored.splitlines()
        assert len(lines) == count
        assert json.loads(lines[-1])["rate_ask"] == 35.2


def test_a_connection_dropped_mid_body_leaves_nothing_behind(s3, http_server, reply):
    payload, _ = big_json_array(12 * MIB)
    http_server.route("/pairs", reply(chunks=chunked(payload), length=len(payload), drop_after=10 * MIB))
    with pytest.raises(HttpConnectionError, match="while reading the response body"):
        land(s3, http_server, writing_mode="raw", retries=1)
    assert len(http_server.seen("/pairs")) == 2
    assert s3.keys() == []
    assert s3.pending_uploads() == []


def test_a_failing_second_page_removes_the_first(s3, http_server, reply):
    base = http_server.url("/pairs")
    http_server.route(
        "/pairs",
        lambda seen: (
            reply(json=[{"a": 1}], headers={"Link": f'<{base}?page=2>; rel="next"'})
            if "page" not in seen.query
            else reply(status=502, body="bad gateway " * 100)
        ),
    )
    with pytest.raises(HttpError5xx, match="502"):
        land(s3, http_server, writing_mode="flatten", retries=1)
    assert s3.keys() == []


def test_invalid_json_fails_a_flatten_landing_cleanly(s3, http_server, reply):
    http_server.route(
        "/pairs", reply(body=b'[{"a": 1}, {"a": ', headers={"Content-Type": "application/json"})
    )
    with pytest.raises(LandingError, match="not valid JSON"):
        land(s3, http_server, writing_mode="flatten")
    assert s3.keys() == []


def test_raw_mode_lands_a_non_json_body_without_counting(s3, http_server, reply):
    http_server.route("/pairs", reply(body="a,b\n1,2\n", headers={"Content-Type": "text/csv"}))
    out = land(s3, http_server, writing_mode="raw")
    assert out["keys"] == ["open-data/USD-THB/page-00001.csv"]
    assert out["records"] is None
    assert s3.read(out["keys"][0]) == b"a,b\n1,2\n"


def test_a_missing_bucket_is_a_clear_s3_error(s3, http_server, reply):
    http_server.route("/pairs", reply(json=[{"a": 1}]))
    with pytest.raises(S3Error, match="NoSuchBucket"):
        land(s3, http_server, aws_s3_path="no-such-bucket-rw/x")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"aws_s3_path": "justabucket"}, "aws_s3_path must look like bucket/prefix"),
        ({"aws_s3_path": "Bad_Bucket/p"}, "aws_s3_path must look like bucket/prefix"),
        ({"writing_mode": "parquet"}, "writing_mode must be flatten or raw"),
        ({"aws_access_client_secret": None}, "must be given together"),
        ({"records_path": "data[0]"}, "cannot use list indices"),
    ],
)
def test_landing_argument_errors_are_clear(s3, http_server, changes, message):
    with pytest.raises(ArgumentError, match=message):
        land(s3, http_server, **changes)
    assert http_server.requests == []  # nothing was fetched
