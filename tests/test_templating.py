"""``${{ }}`` rendering: native types, hyphenated names, filters, loud errors, the sandbox."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from runwright.errors import ExpressionError
from runwright.runtime import Runtime

CONTEXT = {
    "params": {
        "n": 3,
        "items": [1, 2],
        "source-extract": "USD-THB",
        "when": datetime(2024, 1, 2, tzinfo=UTC),
    },
    "stages": {"retrieve-api": {"outputs": {"x": "value", "items": "key-not-method"}}},
}


def render(runtime: Runtime, value: object, context: dict | None = None) -> object:
    return runtime.expressions.render(value, CONTEXT if context is None else context)


def test_single_expression_keeps_its_type(runtime: Runtime) -> None:
    assert render(runtime, "${{ params.n }}") == 3
    assert render(runtime, "${{params.items}}") == [1, 2]
    assert render(runtime, "${{ params.when }}") == datetime(2024, 1, 2, tzinfo=UTC)


def test_mixed_text_is_a_string(runtime: Runtime) -> None:
    assert render(runtime, "n=${{ params.n }}!") == "n=3!"
    assert render(runtime, "${{ params.n }}${{ params.n }}") == "33"


def test_hyphenated_names_read_keys(runtime: Runtime) -> None:
    assert render(runtime, "${{ params.source-extract }}") == "USD-THB"
    assert render(runtime, "${{ stages.retrieve-api.outputs.x }}") == "value"
    # dot access on a mapping reads the key, never a dict method
    assert render(runtime, "${{ stages.retrieve-api.outputs.items }}") == "key-not-method"
    # spaces make a subtraction
    assert render(runtime, "${{ params.n - 1 }}") == 2


def test_nested_structures_render(runtime: Runtime) -> None:
    value = {"a": ["${{ params.n }}", {"b": "x-${{ params.n }}"}], "c": 1}
    assert render(runtime, value) == {"a": [3, {"b": "x-3"}], "c": 1}


def test_plain_braces_stay_literal(runtime: Runtime) -> None:
    assert render(runtime, "awk '{print $1}' {{ x }} {% y %}") == "awk '{print $1}' {{ x }} {% y %}"


def test_builtin_filters(runtime: Runtime) -> None:
    ctx = {
        "d": datetime(2024, 3, 4, 5, 6, tzinfo=UTC),
        "day": date(2024, 3, 4),
        "s": "ab c",
        "m": {"k": 1},
        "l": [10, 20],
        "none": None,
        "neg": -4,
        "num": "42",
    }
    cases = {
        "${{ d | fmt(fmt='%Y%m%d') }}": "20240304",
        "${{ day | fmt(fmt='%d/%m') }}": "04/03",
        "${{ d | fmt }}": "2024-03-04 05:06:00",
        "${{ num | int }}": 42,
        "${{ num | float }}": 42.0,
        "${{ neg | abs }}": 4,
        "${{ neg | str }}": "-4",
        "${{ s | upper }}": "AB C",
        "${{ s | title }}": "Ab C",
        "${{ 'X' | lower }}": "x",
        "${{ none | coalesce('fallback') }}": "fallback",
        "${{ s | coalesce('fallback') }}": "ab c",
        "${{ m | getitem('k') }}": 1,
        "${{ m | getitem('missing', 'd') }}": "d",
        "${{ l | getindex(1) }}": 20,
        "${{ m | json }}": '{"k": 1}',
        '${{ "it\'s" | shell_quote }}': "'it'\"'\"'s'",
        "${{ l | join(',') }}": "10,20",
    }
    for source, expected in cases.items():
        assert render(runtime, source, ctx) == expected, source


def test_custom_filter_from_registry_package(runtime: Runtime) -> None:
    # runwright_contrib.filters defines @custom_filter("shout")
    assert render(runtime, "${{ 'hi' | shout }}", {}) == "HI!"
    assert render(runtime, "${{ 'hi' | shout(mark='?') }}", {}) == "HI?"


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ("${{ params.missing }}", ["params.missing", "no key 'missing'", "available: items, n"]),
        ("${{ nothing }}", ["nothing", "unknown name 'nothing'"]),
        ("${{ params.n | nosuchfilter }}", ["nosuchfilter", "unknown filter"]),
        ("${{ params.n.__class__ }}", ["__class__"]),
        ("${{ ''.__class__.__mro__ }}", ["sandbox"]),
        ("${{ params.n ", ["never closed"]),
        ("${{ }}", ["empty"]),
    ],
)
def test_bad_expressions_fail_loudly_naming_the_expression(
    runtime: Runtime, source: str, words: list[str]
) -> None:
    with pytest.raises(ExpressionError) as info:
        render(runtime, source)
    message = str(info.value)
    for word in words:
        assert word in message, message


def test_sandbox_blocks_subclasses_walk(runtime: Runtime) -> None:
    with pytest.raises(ExpressionError, match="sandbox"):
        render(runtime, "${{ ().__class__.__base__.__subclasses__() }}", {})


def test_filter_failure_names_expression(runtime: Runtime) -> None:
    with pytest.raises(ExpressionError) as info:
        render(runtime, "${{ params.n | fmt }}")
    assert "params.n | fmt" in str(info.value)
    assert "fmt expects a date" in str(info.value)


def test_compiled_once(runtime: Runtime) -> None:
    runtime.expressions.compile.cache_clear()
    for _ in range(5):
        render(runtime, "${{ params.n }}")
    assert runtime.expressions.compile.cache_info().misses == 1
