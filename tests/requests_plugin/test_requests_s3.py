"""tasks/s3-put, s3-get and s3-wait-for-key against moto's S3 server on loopback."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest
from runwright_requests.errors import ArgumentError, S3Error, S3WaitTimeout, TaskCancelled
from runwright_requests.tasks import s3_get, s3_put, s3_wait_for_key

MIB = 1024 * 1024


def test_put_and_get_text_and_json(s3):
    put = s3_put(aws_s3_path=f"{s3.bucket}/notes/hello.txt", content="héllo", **s3.aws)
    assert put["uri"] == f"s3://{s3.bucket}/notes/hello.txt" and put["bytes"] == 6
    got = s3_get(aws_s3_path=f"s3://{s3.bucket}/notes/hello.txt", **s3.aws)
    assert got["body"] == "héllo" and got["path"] is None

    s3_put(aws_s3_path=f"{s3.bucket}/conf/run.json", json={"run": [1, 2]}, **s3.aws)
    got = s3_get(aws_s3_path=f"{s3.bucket}/conf/run.json", **s3.aws)
    assert got["body"] == {"run": [1, 2]}
    assert got["content_type"] == "application/json"
    assert s3.aws["aws_access_client_secret"] not in json.dumps([put, got])


def test_a_large_file_round_trips_through_multipart(s3, tmp_path: Path):
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(9 * MIB))
    put = s3_put(aws_s3_path=f"{s3.bucket}/files/big.bin", source_path=str(source), **s3.aws)
    assert put["bytes"] == 9 * MIB and put["etag"].endswith("-2")

    target = tmp_path / "out" / "copy.bin"
    got = s3_get(aws_s3_path=f"{s3.bucket}/files/big.bin", destination_path=str(target), **s3.aws)
    assert got["path"] == str(target) and got["body"] is None
    assert target.read_bytes() == source.read_bytes()


def test_get_saves_a_large_object_to_a_file(s3):
    s3_put(aws_s3_path=f"{s3.bucket}/big.txt", content="z" * 5000, **s3.aws)
    got = s3_get(aws_s3_path=f"{s3.bucket}/big.txt", max_inline_bytes=1000, **s3.aws)
    assert got["body"] is None
    assert Path(got["path"]).read_text() == "z" * 5000


def test_get_of_a_missing_key_names_it(s3):
    with pytest.raises(S3Error, match=r"NoSuchKey") as info:
        s3_get(aws_s3_path=f"{s3.bucket}/nope.json", **s3.aws)
    assert f"s3://{s3.bucket}/nope.json" in str(info.value)


def test_put_needs_exactly_one_source(s3):
    with pytest.raises(ArgumentError, match="exactly one of content, json or source_path"):
        s3_put(aws_s3_path=f"{s3.bucket}/x", content="a", json={"b": 1}, **s3.aws)


def test_wait_for_key_returns_once_the_key_appears(s3, trace_lines):
    timer = threading.Timer(0.3, lambda: s3.client.put_object(Bucket=s3.bucket, Key="in/_SUCCESS", Body=b""))
    timer.start()
    try:
        out = s3_wait_for_key(
            aws_s3_path=f"{s3.bucket}/in/_SUCCESS",
            timeout=20,
            poke_interval=0.1,
            trace=trace_lines.append,
            **s3.aws,
        )
    finally:
        timer.cancel()
    assert out["keys"] == ["in/_SUCCESS"]
    assert out["pokes"] >= 1


def test_wait_for_prefix_outputs_the_keys_found(s3):
    for name in ("a.csv", "b.csv"):
        s3.client.put_object(Bucket=s3.bucket, Key=f"drop/2024-01-01/{name}", Body=b"1")
    s3.client.put_object(Bucket=s3.bucket, Key="drop/2024-01-011/other.csv", Body=b"1")
    out = s3_wait_for_key(aws_s3_path=f"{s3.bucket}/drop/2024-01-01/", match="prefix", timeout=5, **s3.aws)
    assert out["keys"] == ["drop/2024-01-01/a.csv", "drop/2024-01-01/b.csv"]


def test_wait_for_key_times_out(s3):
    with pytest.raises(S3WaitTimeout, match="within 0.5 s"):
        s3_wait_for_key(aws_s3_path=f"{s3.bucket}/never", timeout=0.5, poke_interval=0.1, **s3.aws)


def test_wait_for_key_stops_when_the_run_is_cancelled(s3):
    cancel = threading.Event()
    timer = threading.Timer(0.3, cancel.set)
    timer.start()
    try:
        with pytest.raises(TaskCancelled):
            s3_wait_for_key(
                aws_s3_path=f"{s3.bucket}/never",
                timeout=60,
                poke_interval=30,
                cancel_event=cancel,
                **s3.aws,
            )
    finally:
        timer.cancel()


def test_wait_for_key_argument_errors(s3):
    with pytest.raises(ArgumentError, match="aws_s3_path must look like bucket/key"):
        s3_wait_for_key(aws_s3_path=s3.bucket, **s3.aws)
    with pytest.raises(ArgumentError, match="poke_interval must be > 0"):
        s3_wait_for_key(aws_s3_path=f"{s3.bucket}/k", poke_interval=0, **s3.aws)


def test_wait_for_key_in_a_missing_bucket_fails_at_once(s3):
    with pytest.raises(S3Error, match="does not exist"):
        s3_wait_for_key(aws_s3_path="no-such-bucket-rw/k", timeout=30, **s3.aws)
