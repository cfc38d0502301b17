"""Expressions cost little: no huge strings, lists or integers; only ``${{ }}`` is template
syntax (``${#x}``, ``{# #}``, ``{% %}``, ``{{ }}`` are text everywhere)."""

from __future__ import annotations

import re

import pytest
from runwright.config import Settings
from runwright.errors import ExpressionError
from runwright.plugins import get_plugin_manager
from runwright.runtime import Runtime

HOSTILE = [
    "(10**(10**8)) > 1",
    "2 ** 100000",
    "(-2) ** 100000",  # a negative base grows as fast as its absolute value
    "(-10) ** 100000 > 1",
    "(2 ** 10000) * (2 ** 10000)",
    "'a' * 10**9",
    "10**9 * 'a'",
    "[1] * 10**9",
    "'a'.center(10**9)",
    "'a'.ljust(10**9)",
    "'a'.rjust(10**9)",
    "'1'.zfill(10**9)",
    "'%0999999999d' % 1",
    "'%.999999999f' % 1.5",
    "'%*d' % (999999999, 1)",
    "'{:>999999999}'.format(1)",
    "'{:>{w}}'.format(1, w=999999999)",
    "'a' | center(10**9)",
    "'a' | center(width=10**9)",
    "'%0999999999d' | format(1)",
    "'a\nb' | indent(10**9)",
    "('x' * 999999).replace('x', 'yy')",
    "('x' * 999999) | replace('x', 'yy')",
    "('x' * 999999).expandtabs(10**9)",
    "('x' * 600000 ~ ',' ~ 'y' * 600000).split(',') | join('')",
    "(',' * 999999).join(['a', 'b', 'c'])",
    "[1, 2] | slice(10**9) | list",
    "{'a': 1} | tojson(indent=10**9)",
    "{'a': 1} | json(10**9)",
    "[1] + [2] * 999999 + [3] * 999999",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_costly_expression_is_refused_with_a_clear_error(runtime: Runtime, text: str) -> None:
    with pytest.raises(ExpressionError, match=r"RUNWRIGHT_MAX_(EXPRESSION_LENGTH|INTEGER_DIGITS)"):
        runtime.expressions.render("${{ " + text + " }}", {})


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("2 ** 100000", "2 ** 100000"),
        ("(-2) ** 100000", "-2 ** 100000"),
        ("(-10) ** 100000 > 1", "-10 ** 100000"),
    ],
)
def test_a_huge_power_is_refused_before_it_is_computed(runtime: Runtime, text: str, named: str) -> None:
    """The error names the power, not its result: ``(-10) ** (10**8)`` is never computed."""
    with pytest.raises(ExpressionError, match=re.escape(f"{named} would have more than")):
        runtime.expressions.render("${{ " + text + " }}", {})


def test_lipsum_is_not_available(runtime: Runtime) -> None:
    with pytest.raises(ExpressionError, match="unknown name 'lipsum'"):
        runtime.expressions.render("${{ lipsum(10**9) }}", {})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2 ** 10", 1024),
        ("(-1) ** (10**18)", 1),
        ("2 ** -1", 0.5),
        ("1.5 ** 2", 2.25),
        ("'ab' * 3", "ababab"),
        ("3 * [0]", [0, 0, 0]),
        ("'%05d' % 42", "00042"),
        ("'%s-%s' % ('a', 'b')", "a-b"),
        ("'x'.center(5)", "  x  "),
        ("'7'.zfill(3)", "007"),
        ("'{:>4}|{}'.format(1, 'z')", "   1|z"),
        ("', '.join(['a', 'b'])", "a, b"),
        ("', '.join(range(3) | map('string'))", "0, 1, 2"),
        ("'aXa'.replace('a', 'bb')", "bbXbb"),
        ("'x' | center(5)", "  x  "),
        ("'%03d' | format(7)", "007"),
        ("range(3) | join('-')", "0-2".replace("2", "1-2")),
        ("'a\nb' | indent(2, first=True)", "  a\n  b"),
        ("[1, 2, 3] | slice(2) | list", [[1, 2], [3]]),
        ("{'a': 1} | tojson", '{"a": 1}'),
        ("[1] + [2]", [1, 2]),
        ("10 ** 4300 > 1", True),
        ("7 * 6", 42),
    ],
)
def test_ordinary_expressions_still_work(runtime: Runtime, text: str, expected: object) -> None:
    assert runtime.expressions.render("${{ " + text + " }}", {}) == expected


def test_expression_limits_are_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNWRIGHT_MAX_EXPRESSION_LENGTH", "1000")
    monkeypatch.setenv("RUNWRIGHT_MAX_INTEGER_DIGITS", "50")
    settings = Settings.from_env()
    engine = Runtime(get_plugin_manager(settings), settings).expressions
    assert engine.render("${{ 'a' * 1000 }}", {}) == "a" * 1000
    with pytest.raises(ExpressionError, match="2000 characters or items long, more than the limit of 1000"):
        engine.render("${{ 'a' * 2000 }}", {})
    with pytest.raises(ExpressionError, match="more than the limit of 1000"):
        engine.render("${{ 'a'.center(1001) }}", {})
    with pytest.raises(ExpressionError, match="more than 50 digits"):
        engine.render("${{ 10 ** 60 }}", {})
    items = list(range(600))
    with pytest.raises(ExpressionError, match="more than the limit of 1000"):
        engine.render("${{ items.extend(items) or items.extend(items) }}", {"items": items})


# -- only ${{ }} is template syntax --------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("${#x} ${{ n }}", "${#x} 5"),
        ("${#x} ${{ n }} #}", "${#x} 5 #}"),
        ("{# c #} ${{ n }}", "{# c #} 5"),
        ("{{ n }} ${{ n }}", "{{ n }} 5"),
        ("{% if x %}${{ n }}{% endif %}", "{% if x %}5{% endif %}"),
        ("${% raw %}${{ n }}${% endraw %}", "${% raw %}5${% endraw %}"),
        ("${# ${{ n }} #}", "${# 5 #}"),
        ("${{ '}}' }} ${{ n }}", "}} 5"),
        ("${{ {'a': {'b': n}}['a']['b'] }}!", "5!"),
        ("a }} b ${{ n }}}", "a }} b 5}"),
        ("${{-n}}", "-5"),
    ],
)
def test_only_dollar_double_brace_is_template_syntax(runtime: Runtime, source: str, expected: str) -> None:
    assert str(runtime.expressions.render(source, {"n": 5, "x": True})) == expected


def test_unclosed_expression_is_an_error(runtime: Runtime) -> None:
    with pytest.raises(ExpressionError, match=r"never closed"):
        runtime.expressions.compile("echo ${{ params.a ")
    with pytest.raises(ExpressionError, match=r"never closed"):
        runtime.expressions.compile("echo ${{ 'a }}")


BASH_WITH_LENGTH = """
length:
  type: Workflow
  params: {name: {type: str, default: world}}
  jobs:
    j:
      stages:
        - id: count
          bash: |
            x=abcd
            echo "${#x} ${{ params.name }}"
        - id: comment-like
          bash: |
            x=abcd
            echo "${#x} ${{ params.name }} #}"
        - id: python
          run: |
            text = "{# not a comment #} {% raw %}" + ${{ params.name }}
        - id: echo
          echo: "{{ literal }} ${#x} ${{ params.name }}"
"""


def test_bash_length_and_jinja_lookalikes_in_every_stage_kind(workflow_from) -> None:
    result = workflow_from(BASH_WITH_LENGTH).execute({})
    assert result.status.value == "SUCCESS", result.errors
    stages = result.context["jobs"]["j"]["stages"]
    assert stages["count"]["outputs"]["stdout"].strip() == "4 world"
    assert stages["comment-like"]["outputs"]["stdout"].strip() == "4 world #}"
    assert stages["python"]["outputs"]["text"] == "{# not a comment #} {% raw %}world"


def test_a_costly_expression_fails_its_stage_at_once(workflow_from) -> None:
    """It once ignored a 3 s timeout and ran for minutes; now the stage fails with the limit."""
    result = workflow_from("""
    costly:
      type: Workflow
      jobs:
        j:
          timeout-minutes: 0.05
          stages:
            - {id: power, echo: "${{ (10**(10**8)) > 1 }}"}
    """).execute({})
    assert result.status.value == "FAILED"
    [error] = result.errors
    assert error["name"] == "ExpressionError" and "RUNWRIGHT_MAX_INTEGER_DIGITS" in error["message"]
