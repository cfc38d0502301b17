"""Flattening records for the `flatten` writing mode: nested keys joined with `_`.

`{"id": 1, "price": {"bid": 1.1, "ask": 1.2}, "tags": ["a"]}` becomes
`{"id": 1, "price_bid": 1.1, "price_ask": 1.2, "tags": ["a"]}`. Lists stay JSON arrays (a
record per list element would change the row count), empty objects stay `{}`, and a record
that is not an object becomes `{"value": record}`.
"""

from __future__ import annotations

import json
from typing import Any

SEPARATOR = "_"


def flatten_record(record: Any, separator: str = SEPARATOR) -> dict[str, Any]:
    """One flat mapping for `record`, in the record's key order; later keys win on a clash."""
    if not isinstance(record, dict):
        return {"value": record}
    flat: dict[str, Any] = {}
    _flatten_into(flat, "", record, separator)
    return flat


def _flatten_into(flat: dict[str, Any], prefix: str, mapping: dict[str, Any], sep: str) -> None:
    for key, value in mapping.items():
        name = f"{prefix}{sep}{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            _flatten_into(flat, name, value, sep)
        else:
            flat[name] = value


def json_line(record: Any) -> bytes:
    """One JSON-lines row: the flattened record, compact, UTF-8, newline-terminated."""
    text = json.dumps(flatten_record(record), ensure_ascii=False, separators=(",", ":"), default=str)
    return text.encode("utf-8") + b"\n"
