"""The jinja2 side of expressions: the sandboxed environment, compiling and evaluating.

Imported on first need only (see :attr:`ExpressionEngine.env`): a template whose expressions
are all plain dotted names (``params.x``, ``matrix.os``) runs, and is checked, without jinja2.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, Undefined
from jinja2.exceptions import SecurityError, TemplateError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment
from jinja2.utils import missing

from runwright.config import Limits
from runwright.errors import ExpressionError
from runwright.templating.bounds import CostGuard
from runwright.templating.engine import EXPRESSION_END, EXPRESSION_START


class ExplainingUndefined(StrictUndefined):
    """An undefined name fails loudly and says what was available."""

    __slots__ = ()

    @property
    def _undefined_message(self) -> str:  # type: ignore[override]
        obj, name = self._undefined_obj, self._undefined_name
        if self._undefined_hint:
            return self._undefined_hint
        if isinstance(obj, Mapping):
            keys = ", ".join(sorted(map(str, obj))) or "nothing"
            return f"no key '{name}' here (available: {keys})"
        if obj is not missing:
            return f"'{type(obj).__name__}' value has no attribute '{name}'"
        return f"unknown name '{name}'"


class ExpressionEnvironment(SandboxedEnvironment):
    """The sandbox, with GitHub-style dot access: ``outputs.items`` is the key, not dict.items.

    Operators that can build huge values (``*``, ``**``, ``+``, ``%``) and every call go
    through a :class:`CostGuard`, so no expression builds a string, list or integer beyond the
    configured :class:`Limits` (``'a' * 10**9`` is an error, not a gigabyte).
    """

    intercepted_binops = frozenset({"*", "**", "+", "%"})
    guard: CostGuard = CostGuard(Limits())

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        self.guard.check_binop(operator, left, right)
        return self.guard.checked(super().call_binop(context, operator, left, right))

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        args = __self.guard.check_call(__obj, args, kwargs)
        result = super().call(__context, __obj, *args, **kwargs)
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, list | dict | set):  # ``items.extend(items)`` grows its owner
            __self.guard.checked(owner)
        return __self.guard.checked(result)

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, Mapping):
            try:
                return obj[attribute]
            except (KeyError, TypeError):
                return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)


def make_environment(filters: Mapping[str, Callable[..., Any]]) -> ExpressionEnvironment:
    env = ExpressionEnvironment(
        variable_start_string=EXPRESSION_START,
        variable_end_string=EXPRESSION_END,
        block_start_string="${%",
        block_end_string="%}",
        comment_start_string="${#",
        comment_end_string="#}",
        undefined=ExplainingUndefined,
        autoescape=False,
        keep_trailing_newline=True,
    )
    env.filters.update(filters)
    env.guard = CostGuard(Limits.from_env())
    env.filters.update(env.guard.guard_filters(env.filters))
    env.globals.pop("lipsum", None)  # lipsum(10**9) would loop a billion times
    return env


TOO_DEEP = (
    "nested too deeply to compile (a very long chain of operators, filters, attributes or "
    "'not'/'-'): split it into smaller expressions, for example through 'vars:' or a stage's outputs"
)
"""The error of an expression whose nesting exhausts Python's recursion limit (brackets are
refused earlier, by ``RUNWRIGHT_MAX_EXPRESSION_DEPTH``)."""


def compile_expression(env: ExpressionEnvironment, text: str) -> Callable[..., Any]:
    """``text`` compiled by jinja; a syntax error is an :class:`ExpressionError` saying what."""
    try:
        return env.compile_expression(text, undefined_to_none=False)
    except TemplateSyntaxError as exc:
        raise ExpressionError(text, _syntax_message(exc)) from None
    except (RecursionError, SyntaxError):  # Python's stack, or its 200 nested parentheses
        raise ExpressionError(text, TOO_DEEP) from None
    except (ValueError, OverflowError, MemoryError) as exc:  # a 5000-digit literal...
        raise ExpressionError(text, f"cannot compile: {type(exc).__name__}: {exc}") from None


def evaluate_compiled(compiled: Callable[..., Any], context: Mapping[str, Any], text: str) -> Any:
    """Run a compiled expression; every failure is an :class:`ExpressionError` naming ``text``."""
    try:
        value = compiled(**context) if context else compiled()
        if isinstance(value, Undefined):
            value._fail_with_undefined_error()
        return value
    except SecurityError as exc:
        raise ExpressionError(text, f"not allowed by the sandbox: {exc}") from None
    except UndefinedError as exc:
        raise ExpressionError(text, str(exc)) from None
    except ExpressionError:
        raise
    except TemplateError as exc:
        raise ExpressionError(text, str(exc)) from None
    except Exception as exc:
        raise ExpressionError(text, f"{type(exc).__name__}: {exc}") from None


def tokens(env: ExpressionEnvironment, text: str, state: str | None = None) -> list[tuple[str, str]]:
    """jinja's lexer tokens of ``text`` as ``(kind, value)``; a lexing error is an ExpressionError."""
    try:
        return [(kind, value) for _, kind, value in env.lexer.tokeniter(text, None, state=state)]
    except TemplateSyntaxError as exc:
        raise ExpressionError(text, f"cannot parse: {exc.message}") from None


def undeclared_names(env: ExpressionEnvironment, text: str) -> set[str]:
    """The names an expression reads from its context (jinja's own analysis)."""
    from jinja2 import meta

    try:
        return meta.find_undeclared_variables(env.parse(f"{EXPRESSION_START} {text} {EXPRESSION_END}"))
    except RecursionError:
        raise ExpressionError(text, TOO_DEEP) from None


def _syntax_message(exc: TemplateSyntaxError) -> str:
    message = exc.message or "syntax error"
    if "No filter named" in message:
        return f"unknown filter: {message.split('No filter named', 1)[1].strip()}"
    return message
