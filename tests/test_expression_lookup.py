"""A plain dotted name (``params.x``) is looked up directly; the answer is jinja's, errors too."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from runwright.errors import ExpressionError
from runwright.runtime import Runtime


class Settings:
    region = "eu"


CONTEXT = {
    "params": {"name": "bench", "when": datetime(2024, 1, 2, tzinfo=UTC), "obj": Settings(), "none": None},
    "matrix": {"a": 1, "b": [1, 2]},
}


def render(runtime: Runtime, value: object) -> object:
    return runtime.expressions.render(value, CONTEXT)


def test_the_same_expression_in_many_strings_renders_each_string(runtime: Runtime) -> None:
    rendered = [render(runtime, f"${{{{ params.name }}}} stage {i} ${{{{ matrix.a }}}}") for i in range(50)]
    assert rendered == [f"bench stage {i} 1" for i in range(50)]
    assert render(runtime, "${{ matrix.b }}") == [1, 2]
    assert render(runtime, "${{ params.none }}") is None


def test_attributes_and_methods_still_go_through_the_sandbox(runtime: Runtime) -> None:
    assert render(runtime, "${{ params.when.year }}") == 2024
    assert render(runtime, "${{ params.obj.region }}") == "eu"
    assert render(runtime, "${{ range(2) | list }}") == [0, 1]
    with pytest.raises(ExpressionError, match="sandbox|unsafe|not allowed|no attribute"):
        render(runtime, "${{ params.name.__class__ }}")


def test_a_missing_key_says_what_is_there(runtime: Runtime) -> None:
    with pytest.raises(ExpressionError) as raised:
        render(runtime, "${{ params.nme }}")
    assert "no key 'nme' here (available: name, none, obj, when)" in str(raised.value)
    with pytest.raises(ExpressionError, match="unknown name 'nothing'|nothing"):
        render(runtime, "${{ nothing.at_all }}")
    with pytest.raises(ExpressionError, match="no key 'c'"):
        render(runtime, "${{ matrix.c }}")
