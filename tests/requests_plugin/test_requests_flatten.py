"""The flatten writing mode's record shape."""

from __future__ import annotations

import json

from runwright_requests.flatten import flatten_record, json_line


def test_nested_keys_are_joined_with_underscores():
    record = {"id": 1, "rate": {"bid": 1.5, "ask": {"value": 2}}, "tags": ["a", {"b": 1}]}
    assert flatten_record(record) == {
        "id": 1,
        "rate_bid": 1.5,
        "rate_ask_value": 2,
        "tags": ["a", {"b": 1}],
    }


def test_empty_objects_and_non_objects_are_kept():
    assert flatten_record({"a": {}, "b": None}) == {"a": {}, "b": None}
    assert flatten_record(7) == {"value": 7}


def test_json_line_is_one_compact_utf8_line():
    line = json_line({"name": "bäht", "x": {"y": 1}})
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert json.loads(line) == {"name": "bäht", "x_y": 1}
