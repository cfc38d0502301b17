"""Params: shorthand and full form, every type, defaults, required, timezones."""

from __future__ import annotations

import os
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from runwright.errors import ParamError, TemplateError

PARAMS_YAML = """
typed:
  type: Workflow
  params:
    s: str
    i: int
    f: {type: float, default: 1.5}
    d: {type: decimal, default: "0.10"}
    b: {type: bool, default: false}
    day: date
    ts: datetime
    local-ts: {type: datetime, timezone: Asia/Bangkok}
    pick: {type: choice, options: [a, b]}
    arr: array
    mp: map
    opt: {type: str, required: false, desc: "an optional value"}
  jobs:
    j:
      stages:
        - echo: ok
          name: ok
"""


def test_conversion_and_defaults(workflow_from) -> None:
    wf = workflow_from(PARAMS_YAML)
    typed = wf.parameterize(
        {
            "s": 5,
            "i": "7",
            "pick": "b",
            "ts": "2024-01-01T10:00:00",
            "local-ts": "2024-01-01T10:00:00",
            "arr": "[1, 2]",
            "mp": '{"k": "v"}',
            "day": "2024-02-03",
            "b": "yes",
        }
    )
    assert typed["s"] == "5"
    assert typed["i"] == 7
    assert typed["f"] == 1.5
    assert typed["d"] == Decimal("0.10")
    assert typed["b"] is True
    assert typed["day"] == date(2024, 2, 3)
    assert typed["ts"] == datetime(2024, 1, 1, 10, tzinfo=UTC)
    assert typed["local-ts"].utcoffset() == timedelta(hours=7)
    assert typed["pick"] == "b"
    assert typed["arr"] == [1, 2]
    assert typed["mp"] == {"k": "v"}
    assert typed["opt"] is None  # optional and not given: present, as None


def test_date_and_datetime_default_to_now(workflow_from) -> None:
    wf = workflow_from(PARAMS_YAML)
    typed = wf.parameterize({"s": "x", "i": 1, "pick": "a"})
    assert abs(typed["ts"] - datetime.now(UTC)) < timedelta(seconds=5)
    assert typed["ts"].tzinfo is not None
    assert typed["arr"] == [] and typed["mp"] == {}
    now = wf.parameterize({"s": "x", "i": 1, "pick": "a", "ts": "now"})["ts"]
    assert abs(now - datetime.now(UTC)) < timedelta(seconds=5)


@pytest.mark.parametrize(
    ("given", "param", "words"),
    [
        ({"i": 1, "pick": "a"}, "s", "is required"),
        ({"s": "x", "i": "seven", "pick": "a"}, "i", "expected an integer"),
        ({"s": "x", "i": 1, "pick": "c"}, "pick", "expected one of 'a', 'b'"),
        ({"s": "x", "i": 1, "pick": "a", "ts": "yesterday"}, "ts", "ISO datetime"),
        ({"s": "x", "i": 1, "pick": "a", "b": "maybe"}, "b", "true or false"),
        ({"s": "x", "i": 1, "pick": "a", "arr": "{"}, "arr", "JSON array"),
        ({"s": "x", "i": 1, "pick": "a", "d": "ten"}, "d", "decimal"),
    ],
)
def test_bad_values_name_the_param(workflow_from, given: dict, param: str, words: str) -> None:
    wf = workflow_from(PARAMS_YAML)
    with pytest.raises(ParamError) as info:
        wf.parameterize(given)
    assert f"param '{param}'" in str(info.value)
    assert words in str(info.value)
    assert "workflow 'typed'" in str(info.value)


def test_datetimes_do_not_depend_on_host_timezone(workflow_from, monkeypatch) -> None:
    wf = workflow_from(PARAMS_YAML)
    results = []
    for zone in ("UTC", "Asia/Tokyo", "America/New_York"):
        monkeypatch.setenv("TZ", zone)
        time.tzset()
        typed = wf.parameterize(
            {
                "s": "x",
                "i": 1,
                "pick": "a",
                "ts": "2024-06-01T12:00:00",
                "local-ts": "2024-06-01T12:00:00",
            }
        )
        results.append((typed["ts"].isoformat(), typed["local-ts"].isoformat()))
    monkeypatch.delenv("TZ")
    time.tzset()
    assert len(set(results)) == 1
    assert results[0] == ("2024-06-01T12:00:00+00:00", "2024-06-01T12:00:00+07:00")


def test_undeclared_params_pass_through(workflow_from) -> None:
    # the seed passes "asat-dt", which run-py-local does not declare
    wf = workflow_from(PARAMS_YAML)
    with pytest.warns(UserWarning, match="'asat-dt' is not declared"):
        typed = wf.parameterize({"s": "x", "i": 1, "pick": "a", "asat-dt": "2024-01-01"})
    assert typed["asat-dt"] == "2024-01-01"


def test_unknown_param_type_is_a_template_error(workflow_from) -> None:
    with pytest.raises(TemplateError) as info:
        workflow_from("""
        wf:
          type: Workflow
          params: {x: strr}
          jobs: {j: {stages: [{name: a, echo: b}]}}
        """)
    assert "params.x" in str(info.value)
    assert "'str'" in str(info.value)
    assert os.path.sep in str(info.value)  # names the file
