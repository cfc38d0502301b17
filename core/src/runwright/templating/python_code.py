"""Bind ``${{ }}`` values into ``run:`` Python code as data, in code and inside string literals.

Each expression becomes a variable ``RW_EXPR_n``. Where it stands in code, the code reads the
variable. Where it stands inside a string literal (``'Hello ${{ params.who }}'``), the literal is
rewritten, with ``tokenize``, into an f-string whose ``{RW_EXPR_n}`` field reads the variable,
bound to the value as text: the value lands in the string as data and can never end the
literal. The rewrite depends only on the template's text, never on a value.

Where a value cannot be placed as text safely (a bytes literal, an f-string format spec, a
string nested inside an f-string's ``{}``), the error names the place and the line.
"""

from __future__ import annotations

import ast
import functools
import io
import keyword
import re
import tokenize
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runwright.errors import ExpressionError
from runwright.templating.engine import EXPRESSION_START, Expression, to_text

if TYPE_CHECKING:
    from runwright.templating.engine import ExpressionEngine

VARIABLE_PREFIX = "RW_EXPR_"
_FSTRING_START = getattr(tokenize, "FSTRING_START", None)  # Python 3.12+ splits f-strings
_FSTRING_END = getattr(tokenize, "FSTRING_END", None)
_STRING_PREFIX = re.compile(r"([A-Za-z]*)('''|\"\"\"|'|\")")


@dataclass(frozen=True)
class Placement:
    """One expression's variable: where it sits in the code and the line it came from."""

    name: str
    start: int
    end: int
    line: int
    expression: str = ""


def render_python(
    engine: ExpressionEngine, source: str, context: Mapping[str, Any], where: str
) -> tuple[str, dict[str, Any]]:
    """The code to run and the values of its ``RW_EXPR_n`` variables (text where in a string).

    ``where`` names the stage for errors (``stage 'x'``).
    """
    if EXPRESSION_START not in source:
        return source, {}
    compiled = engine.compile(source)
    pieces: list[str] = []
    placements: list[Placement] = []
    expressions: list[Expression] = []
    offset = 0  # in the code being built
    line = 1  # in the source
    for part in compiled.parts:
        if isinstance(part, str):
            pieces.append(part)
            offset += len(part)
            line += part.count("\n")
            continue
        name = f"{VARIABLE_PREFIX}{len(placements) + 1}"
        placements.append(Placement(name, offset, offset + len(name), line, part.text))
        expressions.append(part)
        pieces.append(name)
        offset += len(name)
        line += part.text.count("\n")
    code, in_text = place_in_strings("".join(pieces), tuple(placements), where)
    values: dict[str, Any] = {}
    for placement, expression in zip(placements, expressions, strict=True):
        value = expression.evaluate(context)
        values[placement.name] = to_text(value) if placement.name in in_text else value
    return code, values


@functools.lru_cache(maxsize=1024)
def place_in_strings(code: str, placements: tuple[Placement, ...], where: str) -> tuple[str, frozenset[str]]:
    """Rewrite the string literals holding a placement; return the code and the names now
    read as text. Code that does not tokenize is returned as is (``compile`` says why)."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(code).readline))
    except (tokenize.TokenError, SyntaxError):
        return code, frozenset()
    line_starts = [0]
    for text_line in io.StringIO(code):
        line_starts.append(line_starts[-1] + len(text_line))

    def at(position: tuple[int, int]) -> int:
        return line_starts[position[0] - 1] + position[1]

    units = _token_units(tokens, at)
    by_unit: dict[tuple[int, int], list[Placement]] = {}
    for placement in placements:
        index = next(
            (i for i, u in enumerate(units) if u[0] <= placement.start and placement.end <= u[1]), None
        )
        if index is None:
            continue
        start, end, kind, _ = units[index]
        if kind == "string":
            if _is_format_template(units, index):
                raise _error(
                    where,
                    placement,
                    "a value cannot be placed in a string used as a format (.format or %), where "
                    "its braces or % signs would be read as fields; pass it as an argument, "
                    "e.g. 'Hi {}'.format(${{ ... }})",
                )
            by_unit.setdefault((start, end), []).append(placement)
        elif kind == "name" and (start, end) != (placement.start, placement.end):
            raise _error(
                where,
                placement,
                f"in code an expression must stand alone, but it is joined to '{code[start:end]}'",
            )
    in_text: set[str] = set()
    for (start, end), inside in sorted(by_unit.items(), reverse=True):
        local = [Placement(p.name, p.start - start, p.end - start, p.line, p.expression) for p in inside]
        rewritten, names = _rewrite_literal(code[start:end], local, where)
        code = code[:start] + rewritten + code[end:]
        in_text.update(names)
    return code, frozenset(in_text)


def _is_format_template(units: list[tuple[int, int, str, str]], index: int) -> bool:
    """Whether the string (with any literal joined to it, in parentheses or not) is followed
    by ``.format`` or ``%``."""
    before, opened = index - 1, 0
    while before >= 0 and (units[before][2] in ("string", "skip") or units[before][3] == "("):
        if units[before][3] == "(":
            caller = units[before - 1] if before > 0 else None
            if caller and (
                caller[3] in (")", "]") or caller[2] == "name" and not keyword.iskeyword(caller[3])
            ):
                break  # a call's parentheses, not a group's
            opened += 1
        before -= 1
    after = index + 1
    while after < len(units) and (
        units[after][2] in ("string", "skip") or (units[after][3] == ")" and opened > 0)
    ):
        opened -= units[after][3] == ")"
        after += 1
    following = [unit[3] for unit in units[after : after + 2]]
    return following[:1] == ["%"] or following in ([".", "format"], [".", "format_map"])


def _token_units(tokens: list[tokenize.TokenInfo], at: Any) -> list[tuple[int, int, str, str]]:
    """(start, end, kind, text) of each string literal (an f-string is one unit) and other
    token; kind is string, name, skip (a comment or a line break inside brackets) or other."""
    units: list[tuple[int, int, str, str]] = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if _FSTRING_START is not None and token.type == _FSTRING_START:
            depth, close = 1, index + 1
            while depth and close < len(tokens):
                if tokens[close].type == _FSTRING_START:
                    depth += 1
                elif tokens[close].type == _FSTRING_END:
                    depth -= 1
                close += 1
            units.append((at(token.start), at(tokens[close - 1].end), "string", ""))
            index = close
            continue
        kinds = {
            tokenize.STRING: "string",
            tokenize.NAME: "name",
            tokenize.NL: "skip",
            tokenize.COMMENT: "skip",
        }
        units.append((at(token.start), at(token.end), kinds.get(token.type, "other"), token.string))
        index += 1
    return units


def _rewrite_literal(text: str, inside: list[Placement], where: str) -> tuple[str, set[str]]:
    """One string literal with placements in it -> an f-string reading them as fields."""
    match = _STRING_PREFIX.match(text)
    assert match is not None  # a STRING token always starts so
    prefix = match.group(1).lower()
    raw = "r" in prefix
    if "b" in prefix:
        raise _error(
            where,
            inside[0],
            "a value cannot be placed inside a bytes literal; build it in code, "
            "e.g. ('...' + ${{ ... }}).encode()",
        )
    if "f" in prefix:
        roles = _fstring_roles(text, inside)
        for placement in inside:
            role = roles.get(placement.name)
            if role == "spec":
                raise _error(
                    where,
                    placement,
                    "a value cannot be placed in an f-string's format spec; pass it as a field, "
                    "e.g. f'{x:{width}}' with width = ${{ ... }}",
                )
            if role not in ("text", "code"):
                raise _error(
                    where,
                    placement,
                    "a value cannot be placed in a string nested inside an f-string's {}; "
                    "bind it to a name first",
                )
        new_prefix = match.group(1)
    else:
        if not raw and "\\N{" in text:
            raise _error(where, inside[0], "a value cannot be placed in a string using \\N{...} escapes")
        roles = {placement.name: "text" for placement in inside}
        new_prefix = ("r" if raw else "") + "f"
    out: list[str] = [new_prefix]
    position = len(match.group(1))
    placed: set[str] = set()
    for placement in sorted(inside, key=lambda p: p.start):
        literal = text[position : placement.start]
        out.append(literal if "f" in prefix else literal.replace("{", "{{").replace("}", "}}"))
        if roles[placement.name] == "text":
            if not raw and _ends_with_escape(text[: placement.start]):
                raise _error(where, placement, "a backslash right before an expression in a string")
            out.append("{" + placement.name + "}")
            placed.add(placement.name)
        else:
            out.append(placement.name)
        position = placement.end
    rest = text[position:]
    out.append(rest if "f" in prefix else rest.replace("{", "{{").replace("}", "}}"))
    return "".join(out), placed


def _fstring_roles(text: str, inside: list[Placement]) -> dict[str, str]:
    """Where each placement stands in an f-string: its text, a field's code, a format spec,
    or a string nested in a field ("nested"). Found by parsing a copy with unique probes."""
    probes: dict[str, str] = {}
    probed: list[str] = []
    position = 0
    for index, placement in enumerate(sorted(inside, key=lambda p: p.start)):
        probe = f"__runwright_probe_{index}__"
        probes[probe] = placement.name
        probed += [text[position : placement.start], probe]
        position = placement.end
    probed.append(text[position:])
    try:
        tree = ast.parse("".join(probed).strip(), mode="eval")
    except SyntaxError:
        return {}
    roles: dict[str, str] = {}

    def note(value: Any, role: str) -> None:
        if isinstance(value, str):
            for probe, name in probes.items():
                if probe in value:
                    roles.setdefault(name, role)

    def visit(node: ast.AST, role: str) -> None:
        if isinstance(node, ast.JoinedStr):
            for value in node.values:
                if isinstance(value, ast.Constant):
                    note(value.value, role)
                elif isinstance(value, ast.FormattedValue):
                    visit(value.value, "nested")
                    if value.format_spec is not None:
                        visit(value.format_spec, "spec" if role == "text" else "nested")
        elif isinstance(node, ast.Constant):
            note(node.value, role)
        elif isinstance(node, ast.Name) and node.id in probes:
            roles.setdefault(probes[node.id], "code")
        else:
            for child in ast.iter_child_nodes(node):
                visit(child, "nested")

    visit(tree.body, "text")
    return roles


def _ends_with_escape(text: str) -> bool:
    return (len(text) - len(text.rstrip("\\"))) % 2 == 1


def _error(where: str, placement: Placement, message: str) -> ExpressionError:
    return ExpressionError(placement.expression, f"{where}, line {placement.line} of run: {message}")
