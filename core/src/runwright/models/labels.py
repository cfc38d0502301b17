"""Run labels (``runwright run -l team=finance``, the API's ``labels``): what a key and a value
may be, checked at every door so a stored label is always one the runs list can filter on."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from runwright.errors import RunwrightError

LABEL_KEY = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_./-]{0,61}[A-Za-z0-9])?")
MAX_LABEL_VALUE = 200
MAX_LABELS = 20
KEY_RULE = "1-63 letters, digits, '-', '_', '.' or '/', starting and ending with a letter or digit"


class LabelError(RunwrightError):
    """A run label whose key or value cannot be stored and filtered on."""


def checked_labels(labels: Mapping[str, object], where: str = "label") -> dict[str, str]:
    """``labels`` as stored: keys checked, values text (at most 200 characters, one line)."""
    if len(labels) > MAX_LABELS:
        raise LabelError(f"{where}: {len(labels)} labels given, at most {MAX_LABELS} are allowed")
    checked: dict[str, str] = {}
    for key, value in labels.items():
        if not isinstance(key, str) or not LABEL_KEY.fullmatch(key):
            raise LabelError(f"{where}: key {key!r} is not a label key (expected {KEY_RULE})")
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise LabelError(f"{where} {key}: value must be text, got {type(value).__name__}")
        text = str(value)
        if len(text) > MAX_LABEL_VALUE:
            raise LabelError(
                f"{where} {key}: value is {len(text)} characters long, at most {MAX_LABEL_VALUE} are allowed"
            )
        if any(ord(c) < 32 or ord(c) == 127 for c in text):
            raise LabelError(f"{where} {key}: value holds a control character (a line break?)")
        checked[key] = text
    return checked


def parse_label_pairs(pairs: Iterable[str], option: str = "-l") -> dict[str, str]:
    """``KEY=VALUE`` pairs (the command line's ``-l``) as checked labels; a key given twice is
    an error, never a silent overwrite."""
    labels: dict[str, str] = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals:
            raise LabelError(f"{option} expects KEY=VALUE, got {pair!r}")
        key = key.strip()
        if key in labels:
            raise LabelError(f"{option}: label {key!r} is given twice")
        labels[key] = value
    return checked_labels(labels, f"{option}")


def label_filter(pair: str) -> tuple[str, str]:
    """One ``KEY=VALUE`` label to filter runs on (the runs list's ``--label`` and ``label=``)."""
    key, equals, value = pair.partition("=")
    if not equals or not LABEL_KEY.fullmatch(key):
        raise LabelError(f"label filter {pair[:80]!r}: expected KEY=VALUE, the key {KEY_RULE}")
    return key, value
