"""Compile and render ``${{ ... }}`` expressions with jinja2's sandboxed environment.

jinja2's own lexer splits a value into literal text and expressions (we configure it so only
``${{ }}`` is special; ``{{ }}`` and ``{% %}`` in a script stay literal). Then:

- a value that is exactly one expression keeps its native type (int, list, datetime...);
- a value mixing text and expressions is a string;
- in ``bash:`` scripts and ``run:`` code, expressions are never spliced into the text: each one
  becomes a variable (``${RW_EXPR_1}`` / ``RW_EXPR_1``) that is set to the rendered value.

Names may contain hyphens after a dot, as in GitHub Actions: ``params.source-extract`` reads the
key ``source-extract`` (write ``a.b - 1`` with spaces for a subtraction).

jinja2 itself (:mod:`runwright.templating.sandbox`) is imported on first need: a plain dotted
name is looked up directly, so a template holding no other expression never loads it.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runwright.config import Limits
from runwright.errors import ExpressionError

if TYPE_CHECKING:
    from runwright.templating.sandbox import ExpressionEnvironment

EXPRESSION_START = "${{"
EXPRESSION_END = "}}"


def has_expression(value: Any) -> bool:
    """Cheap test used to skip rendering of plain values."""
    return isinstance(value, str) and EXPRESSION_START in value


@dataclass(frozen=True)
class CompiledValue:
    """A string split into literal text (str) and compiled expressions (Expression)."""

    source: str
    parts: tuple[Any, ...]

    @property
    def is_single_expression(self) -> bool:
        return len(self.parts) == 1 and isinstance(self.parts[0], Expression)


@dataclass(frozen=True)
class Expression:
    text: str
    evaluate: Callable[[Mapping[str, Any]], Any]


class ExpressionEngine:
    """Compiles each distinct string once and renders values against a context mapping."""

    def __init__(self, filters: Mapping[str, Callable[..., Any]], limits: Limits | None = None) -> None:
        self.filters = filters
        self.max_depth = (limits or Limits.from_env()).max_expression_depth
        self._env: ExpressionEnvironment | None = None
        self.compile = functools.lru_cache(maxsize=8192)(self._compile)
        self.compile_condition = functools.lru_cache(maxsize=4096)(self._compile_condition)
        # one jinja compile per distinct expression, however many strings repeat it
        self._compile_expression = functools.lru_cache(maxsize=8192)(self._compile_expression)  # type: ignore[method-assign]
        self._expression_source = functools.lru_cache(maxsize=8192)(self._expression_source)  # type: ignore[method-assign]

    @property
    def env(self) -> ExpressionEnvironment:
        """jinja2's sandboxed environment, built (and jinja2 imported) on first use."""
        if self._env is None:
            from runwright.templating.sandbox import make_environment

            self._env = make_environment(self.filters)
        return self._env

    def _compile(self, source: str) -> CompiledValue:
        """Split ``source`` at ``${{ ... }}`` and compile each expression once."""
        parts: list[Any] = [
            self._compile_expression(text) if kind == "expr" else text for kind, text in self.split(source)
        ]
        return CompiledValue(source=source, parts=tuple(parts))

    def split(self, source: str) -> list[tuple[str, str]]:
        """``source`` as ``("text", s)`` / ``("expr", expression)`` parts, in order.

        Only ``${{ ... }}`` is template syntax: everything else is literal text, including what
        merely looks like jinja (``{{ }}``, ``{% %}``, ``{# #}``, bash's ``${#x}``). The static
        checker splits with this same function, so what validates is what runs.
        """
        parts: list[tuple[str, str]] = []
        position = 0
        while (start := source.find(EXPRESSION_START, position)) >= 0:
            if start > position:
                parts.append(("text", source[position:start]))
            inner = start + len(EXPRESSION_START)
            end = expression_end(source, inner)
            if end is None:
                raise ExpressionError(source, "'${{' is never closed with '}}'")
            parts.append(("expr", self._expression_source(source[inner:end])))
            position = end + len(EXPRESSION_END)
        if position < len(source):
            parts.append(("text", source[position:]))
        return parts

    def _expression_source(self, text: str) -> str:
        """The expression's own tokens (jinja's lexer, in expression mode), hyphens joined.

        A plain dotted name is its own text (the lexer would give back the same tokens)."""
        if _DOTTED_PATH.fullmatch(text):
            return text
        from runwright.templating.sandbox import tokens

        found = tokens(self.env, text, state="variable")
        if any(kind == "variable_end" for kind, _ in found):
            raise ExpressionError(text, "unexpected '}}' inside the expression")
        return _join_hyphenated(found)

    def _compile_condition(self, source: str) -> Expression:
        """The condition compiled as one expression (see :meth:`condition_source`)."""
        return self._compile_expression(self.condition_source(source))

    def condition_source(self, source: str) -> str:
        """Condition text as ONE expression: each ``${{ e }}`` becomes ``(e)``, the text around
        it is expression text; inside a quoted string (``'${{ e }}' == 'x'``) it becomes the
        value's text, ``('' ~ (e) ~ '')``. Only the template's text is compiled, never a
        rendered value, so ``${{ a }} == 2`` means ``a == 2`` and a value cannot become code.
        The static checker judges this same text."""
        if EXPRESSION_START not in source:
            return source.strip()
        markers: dict[str, str] = {}
        pieces: list[str] = []
        for kind, text in self.split(source):
            if kind == "text":
                pieces.append(text)
            else:
                marker = f"__runwright_condition_{len(markers)}__"
                markers[marker] = f"({text.strip()})"
                pieces.append(marker)
        text = "".join(pieces)
        from runwright.templating.sandbox import tokens

        try:
            found = tokens(self.env, f"{EXPRESSION_START} {text} {EXPRESSION_END}")
        except ExpressionError:
            found = [("variable_begin", ""), ("data", text), ("variable_end", "")]
        out: list[str] = []
        for kind, value in found[1:-1]:
            if kind == "string" and any(marker in value for marker in markers):
                value = _string_with_values(value, markers, source)
            else:
                for marker, expression in markers.items():
                    value = value.replace(marker, expression)
            out.append(value)
        return "".join(out).strip()

    def evaluate_condition(self, condition: str | bool, context: Mapping[str, Any]) -> bool:
        """``if:``/``until:``: a YAML bool, a bare expression, or text mixing ``${{ }}``."""
        if isinstance(condition, bool):
            return condition
        return is_truthy(self.compile_condition(condition.strip()).evaluate(context))

    def check_depth(self, text: str) -> None:
        """Refuse brackets nested deeper than ``RUNWRIGHT_MAX_EXPRESSION_DEPTH`` before jinja2's
        recursive parser sees them (a hundred parentheses would exhaust Python's stack)."""
        if text.count("(") + text.count("[") + text.count("{") <= self.max_depth:
            return
        depth = bracket_depth(text)
        if depth > self.max_depth:
            raise ExpressionError(
                text,
                f"brackets nested {depth} levels deep: nested deeper than {self.max_depth} brackets "
                "(RUNWRIGHT_MAX_EXPRESSION_DEPTH)",
            )

    def _compile_expression(self, text: str) -> Expression:
        if not text.strip():
            raise ExpressionError(text, "the expression is empty")
        self.check_depth(text)
        path = dotted_path(text)
        # a plain dotted name is valid jinja by construction: jinja compiles it (about 1 ms) only
        # if a lookup ever needs jinja (a missing key, for its message; an attribute; a global)
        compiled: Callable[..., Any] | None = None if path is not None else self._jinja_compile(text)

        def evaluate(context: Mapping[str, Any]) -> Any:
            nonlocal compiled
            if path is not None:  # ``params.x``/``matrix.a``: look it up without a jinja context
                value = _lookup(context, path)
                if value is not _NOT_FOUND:
                    return value
            if compiled is None:
                compiled = self._jinja_compile(text)
            from runwright.templating.sandbox import evaluate_compiled

            return evaluate_compiled(compiled, context, text)

        return Expression(text=text, evaluate=evaluate)

    def _jinja_compile(self, text: str) -> Callable[..., Any]:
        from runwright.templating.sandbox import compile_expression

        return compile_expression(self.env, text)

    def render(self, value: Any, context: Mapping[str, Any]) -> Any:
        """Render every expression in ``value`` (recursing into dicts and lists)."""
        if isinstance(value, str):
            if EXPRESSION_START not in value:
                return value
            compiled = self.compile(value)
            if compiled.is_single_expression:
                return compiled.parts[0].evaluate(context)
            return "".join(
                part if isinstance(part, str) else to_text(part.evaluate(context)) for part in compiled.parts
            )
        if isinstance(value, dict):
            return {key: self.render(item, context) for key, item in value.items()}
        if isinstance(value, list):
            return [self.render(item, context) for item in value]
        return value

    def render_as_variables(
        self, source: str, context: Mapping[str, Any], reference: Callable[[str], str]
    ) -> tuple[str, dict[str, Any]]:
        """Replace each expression by ``reference(name)`` and return the values by name.

        Used for ``bash:`` (``reference = lambda n: "${" + n + "}"``) and ``run:`` code, so a
        hostile param value is only ever data, never script text.
        """
        if EXPRESSION_START not in source:
            return source, {}
        compiled = self.compile(source)
        text: list[str] = []
        values: dict[str, Any] = {}
        for part in compiled.parts:
            if isinstance(part, str):
                text.append(part)
            else:
                name = f"RW_EXPR_{len(values) + 1}"
                values[name] = part.evaluate(context)
                text.append(reference(name))
        return "".join(text), values

    def root_names(self, text: str) -> set[str]:
        """The top-level names the expressions in ``text`` read (``matrix`` in ``matrix.x``)."""
        names: set[str] = set()
        for part in self.compile(text).parts:
            if isinstance(part, str):
                continue
            path = dotted_path(part.text)
            if path is not None:
                names.add(path[0])
                continue
            from runwright.templating.sandbox import undeclared_names

            self.check_depth(part.text)
            names |= undeclared_names(self.env, part.text)
        return names

    def check(self, value: Any) -> None:
        """Compile every expression in ``value`` (raises ExpressionError on the first bad one)."""
        if isinstance(value, str):
            if EXPRESSION_START in value:
                self.compile(value)
        elif isinstance(value, dict):
            for item in value.values():
                self.check(item)
        elif isinstance(value, list):
            for item in value:
                self.check(item)


_DOTTED_PATH = re.compile(r"\s*[A-Za-z_][A-Za-z0-9_]*(?:\s*\.\s*[A-Za-z_][A-Za-z0-9_]*)*\s*")
_NOT_FOUND = object()
JINJA_WORDS = frozenset(
    {"true", "false", "none", "True", "False", "None", "and", "or", "not", "in", "is", "if", "else"}
)
"""Names jinja reads as operators or constants: a path holding one is compiled by jinja."""


def dotted_path(text: str) -> tuple[str, ...] | None:
    """``params.name`` as ``("params", "name")``; None for anything else (jinja evaluates it)."""
    if not _DOTTED_PATH.fullmatch(text):
        return None
    path = tuple(name.strip() for name in text.split("."))
    if any(name in JINJA_WORDS for name in path):
        return None
    return path


def _lookup(context: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    """What jinja would return for a dotted path through mappings (see
    :meth:`ExpressionEnvironment.getattr`), or ``_NOT_FOUND`` whenever jinja must decide (a
    missing key, for its error message; a global; an object's attribute)."""
    value = context.get(path[0], _NOT_FOUND)
    for name in path[1:]:
        if value is _NOT_FOUND or not isinstance(value, Mapping):
            return _NOT_FOUND
        try:
            value = value[name]
        except (KeyError, TypeError):
            return _NOT_FOUND
    return value


def _string_with_values(literal: str, markers: Mapping[str, str], source: str) -> str:
    """``'Hi MARKER!'`` -> ``('Hi ' ~ (e) ~ '!')``: the value joins the string as text."""
    quote, body = literal[0], literal[1:-1]
    pattern = "(" + "|".join(map(re.escape, markers)) + ")"
    pieces = re.split(pattern, body)
    out: list[str] = []
    for index, piece in enumerate(pieces):
        if index % 2:
            out.append(markers[piece])
        elif (len(piece) - len(piece.rstrip("\\"))) % 2:
            raise ExpressionError(source, "a backslash right before an expression in a quoted string")
        else:
            out.append(f"{quote}{piece}{quote}")
    return "(" + " ~ ".join(out) + ")"


FALSY_TEXT = frozenset({"", "false", "0", "no", "off", "none", "null"})


def is_truthy(value: Any) -> bool:
    """Python truth, except that text such as ``false``, ``no`` or ``0`` is false."""
    if isinstance(value, str):
        return value.strip().lower() not in FALSY_TEXT
    return bool(value)


#: a string literal as jinja's lexer reads it (quotes, backslash escapes)
STRING_LITERAL = re.compile(r"'([^'\\]*(?:\\.[^'\\]*)*)'|\"([^\"\\]*(?:\\.[^\"\\]*)*)\"", re.S)


def _brackets(source: str, position: int = 0) -> Iterator[tuple[int, int]]:
    """``(index, depth before it)`` of each bracket outside string literals, from ``position``;
    ends early (``index == -1``) at an unclosed string literal."""
    depth = 0
    index = position
    while index < len(source):
        char = source[index]
        if char in "'\"":
            match = STRING_LITERAL.match(source, index)
            if match is None:
                yield -1, depth
                return
            index = match.end()
            continue
        if char in "([{":
            yield index, depth
            depth += 1
        elif char in ")]}":
            yield index, depth
            depth = max(depth - 1, 0)
        index += 1


def expression_end(source: str, position: int) -> int | None:
    """Where the ``}}`` closing the expression that starts at ``position`` is, or None.

    A ``}}`` inside a string literal or inside brackets (``{'a': {'b': 1}}``) does not close it.
    """
    for index, depth in _brackets(source, position):
        if index < 0:
            return None
        if depth == 0 and source.startswith(EXPRESSION_END, index):
            return index
    return None


def bracket_depth(text: str) -> int:
    """How deep brackets (``(``, ``[``, ``{``) nest in ``text``, string literals skipped."""
    deepest = 0
    for index, depth in _brackets(text):
        if index >= 0 and text[index] in "([{":
            deepest = max(deepest, depth + 1)
    return deepest


def _join_hyphenated(tokens: list[tuple[str, str]]) -> str:
    """Turn ``a.source-extract`` into ``a["source-extract"]`` using jinja's tokens."""
    out: list[str] = []
    i = 0
    while i < len(tokens):
        kind, value = tokens[i]
        after_dot = i > 0 and tokens[i - 1] == ("operator", ".")
        if kind == "name" and after_dot and _is_hyphen_at(tokens, i + 1):
            pieces = [value]
            j = i + 1
            while _is_hyphen_at(tokens, j):
                pieces.append(tokens[j + 1][1])
                j += 2
            out.pop()  # the dot
            out.append(f'["{"-".join(pieces)}"]')
            i = j
            continue
        out.append(value)
        i += 1
    return "".join(out)


def _is_hyphen_at(tokens: list[tuple[str, str]], index: int) -> bool:
    return (
        index + 1 < len(tokens)
        and tokens[index] == ("operator", "-")
        and tokens[index + 1][0] in {"name", "integer"}
    )


def to_text(value: Any) -> str:
    """How a value reads inside text: ``true``/``false``, empty for None, ISO dates, JSON."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if hasattr(value, "isoformat") and not isinstance(value, str):
        return value.isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    return str(value)
