"""What one expression may cost: no string, list or integer beyond the configured limits.

jinja2's sandbox stops unsafe attribute access but not size: ``'a' * 10**9``,
``'x'.center(10**9)``, ``'%0999999999d' % 1`` and ``10 ** 10**8`` each build a huge value (or
compute for minutes) before anything could check the result. The environment routes every
intercepted operator, every call and the size-building filters through :class:`CostGuard`, which
predicts the size of the result from the operands and refuses before the work is done.
"""

from __future__ import annotations

import functools
import inspect
import math
import re
import string
from collections.abc import Callable, Mapping
from typing import Any

from jinja2.exceptions import SecurityError

from runwright.config import Limits

#: printf-style conversions: ``%(name)-08.3f`` -> width ``08``, precision ``3`` (``*`` = from args)
PRINTF_CONVERSION = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?[a-zA-Z%]")
DIGITS = re.compile(r"\d+")
SEQUENCE_TYPES = (str, bytes, list, tuple)
#: str methods whose result can be much larger than the string and their arguments
PADDING_METHODS = frozenset({"center", "ljust", "rjust", "zfill"})


class ExpressionTooLarge(SecurityError):
    """An expression would build a value beyond a limit of :class:`~runwright.config.Limits`."""


class CostGuard:
    """Predicts result sizes from operands and refuses what would exceed the limits."""

    def __init__(self, limits: Limits) -> None:
        self.max_length = limits.max_expression_length
        self.max_digits = limits.max_integer_digits
        self.max_bits = int(limits.max_integer_digits * math.log2(10)) + 1

    # -- refusing ------------------------------------------------------------------------

    def too_long(self, what: str, size: int) -> ExpressionTooLarge:
        return ExpressionTooLarge(
            f"{what} would be {size} characters or items long, more than the limit of "
            f"{self.max_length} (RUNWRIGHT_MAX_EXPRESSION_LENGTH)"
        )

    def too_big(self, what: str) -> ExpressionTooLarge:
        return ExpressionTooLarge(
            f"{what} would have more than {self.max_digits} digits (RUNWRIGHT_MAX_INTEGER_DIGITS)"
        )

    def check_length(self, what: str, size: int) -> None:
        if size > self.max_length:
            raise self.too_long(what, size)

    def checked(self, value: Any) -> Any:
        """A value computed by an operator or a call, refused if it is beyond the limits."""
        if isinstance(value, (*SEQUENCE_TYPES, dict, set)):
            self.check_length("the result", len(value))
        elif isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > self.max_bits:
            raise self.too_big("the result")
        return value

    # -- operators -----------------------------------------------------------------------

    def check_binop(self, operator: str, left: Any, right: Any) -> None:
        if operator == "**":
            self._check_power(left, right)
        elif operator == "*":
            self._check_product(left, right)
        elif operator == "+":
            if isinstance(left, SEQUENCE_TYPES) and isinstance(right, SEQUENCE_TYPES):
                self.check_length("the sum", len(left) + len(right))
        elif operator == "%" and isinstance(left, str):
            self.check_printf(left, right)

    def _check_power(self, base: Any, exponent: Any) -> None:
        if not (_is_int(base) and _is_int(exponent)) or exponent <= 0 or abs(base) <= 1:
            return  # floats overflow with an error; 0, 1, -1 stay small
        if exponent * math.log2(abs(base)) > self.max_bits:
            raise self.too_big(f"{_short(base)} ** {_short(exponent)}")

    def _check_product(self, left: Any, right: Any) -> None:
        if _is_int(left) and _is_int(right):
            if left.bit_length() + right.bit_length() > self.max_bits + 1:
                raise self.too_big(f"{_short(left)} * {_short(right)}")
            return
        for sequence, count in ((left, right), (right, left)):
            if isinstance(sequence, SEQUENCE_TYPES) and _is_int(count):
                self.check_length("the repetition", len(sequence) * max(count, 0))

    def check_printf(self, template: str, values: Any) -> None:
        """``'%0999999999d' % 1``: refuse widths and precisions beyond the length limit."""
        star = False
        for match in PRINTF_CONVERSION.finditer(template):
            for number in match.groups():
                if number == "*":
                    star = True
                elif number and int(number) > self.max_length:
                    raise self.too_long(f"the formatted value of '{_short(template)}'", int(number))
        if star:
            items = values if isinstance(values, tuple) else (values,)
            for item in items:
                if _is_int(item) and item > self.max_length:
                    raise self.too_long("a '*' width", item)

    def check_format_spec(self, template: str, args: Any, kwargs: Mapping[str, Any]) -> None:
        """``'{:>999999999}'.format(1)``: the same for ``str.format`` field specs."""
        try:
            fields = list(string.Formatter().parse(template))
        except ValueError:
            return  # str.format reports the bad template itself
        for _, _, spec, _ in fields:
            if not spec:
                continue
            if "{" in spec:  # a width taken from the arguments
                for item in [*args, *kwargs.values()]:
                    if _is_int(item) and item > self.max_length:
                        raise self.too_long("a nested format width", item)
            for number in DIGITS.findall(spec):
                if int(number) > self.max_length:
                    raise self.too_long(f"the formatted value of '{_short(template)}'", int(number))

    # -- calls ---------------------------------------------------------------------------

    def check_call(self, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
        """Check a call of a str method before it runs; returns the (possibly materialised) args."""
        name = getattr(func, "__name__", "")
        owner = getattr(getattr(func, "__wrapped__", func), "__self__", None)
        if not isinstance(owner, str):
            return args
        if name in PADDING_METHODS:
            width = args[0] if args else kwargs.get("width", 0)
            if _is_int(width):
                self.check_length(f"str.{name}()", width)
        elif name == "expandtabs":
            size = args[0] if args else kwargs.get("tabsize", 8)
            if _is_int(size):
                self.check_length("str.expandtabs()", len(owner) * max(size, 1))
        elif name == "join" and args:
            items = list(args[0])
            if all(isinstance(item, str) for item in items):
                size = sum(map(len, items)) + len(owner) * max(len(items) - 1, 0)
                self.check_length("str.join()", size)
            args = (items, *args[1:])
        elif name == "replace" and len(args) >= 2:
            self._check_replace(owner, *args[:3])
        elif name in {"format", "format_map"}:
            values = args[0] if name == "format_map" and args else kwargs
            self.check_format_spec(owner, args if name == "format" else (), values)
        return args

    def _check_replace(self, text: str, old: Any, new: Any, count: Any = -1) -> None:
        if not (isinstance(old, str) and isinstance(new, str)):
            return
        found = text.count(old) if old else len(text) + 1
        if _is_int(count) and count >= 0:
            found = min(found, count)
        self.check_length("str.replace()", len(text) + found * (len(new) - len(old)))

    # -- filters -------------------------------------------------------------------------

    def guard_filters(self, filters: Mapping[str, Callable[..., Any]]) -> dict[str, Callable[..., Any]]:
        """Checked versions of the filters that can build large values from small arguments.

        Each check reads the call's arguments by parameter name (a filter of the same name from
        a plugin with other parameters is checked only on the names it shares).
        """
        checks: dict[str, Callable[[dict[str, Any]], None]] = {
            "center": lambda a: self.check_length("center", _int_or_zero(a.get("width"))),
            "indent": self._check_indent,
            "format": lambda a: self.check_printf(str(a.get("value")), a.get("kwargs") or a.get("args")),
            "replace": lambda a: self._check_replace(
                str(a.get("s")), a.get("old"), a.get("new"), -1 if a.get("count") is None else a["count"]
            ),
            "slice": lambda a: self.check_length("slice", _int_or_zero(a.get("slices"))),
            "batch": lambda a: self.check_length("batch", _int_or_zero(a.get("linecount"))),
            "tojson": lambda a: self.check_length("tojson indent", _int_or_zero(a.get("indent"))),
            "json": lambda a: self.check_length("json indent", _int_or_zero(a.get("indent"))),
            "join": self._check_join,
        }
        return {
            name: self._guarded(filters[name], check) for name, check in checks.items() if name in filters
        }

    def _check_indent(self, arguments: dict[str, Any]) -> None:
        text, width = str(arguments.get("s", "")), arguments.get("width")
        pad = len(width) if isinstance(width, str) else _int_or_zero(width)
        self.check_length("indent", len(text) + (text.count("\n") + 1) * pad)

    def _check_join(self, arguments: dict[str, Any]) -> None:
        if "value" not in arguments:
            return
        items = list(arguments["value"])  # materialised once, measured, then joined
        if arguments.get("attribute") is None:
            items = [item if isinstance(item, str) else str(item) for item in items]  # as join would
            size = sum(map(len, items)) + len(str(arguments.get("d", ""))) * max(len(items) - 1, 0)
            self.check_length("join", size)
        arguments["value"] = items

    def _guarded(
        self, func: Callable[..., Any], check: Callable[[dict[str, Any]], None]
    ) -> Callable[..., Any]:
        signature = inspect.signature(func)  # of the function it wraps, if it wraps one
        # jinja's async-aware filters take an extra leading context the wrapped one does not
        extra = int(
            getattr(func, "jinja_pass_arg", None) is not None
            and getattr(inspect.unwrap(func), "jinja_pass_arg", None) is None
        )

        @functools.wraps(func)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            try:
                bound = signature.bind(*args[extra:], **kwargs)
            except TypeError:
                return func(*args, **kwargs)  # the filter reports its own usage error
            bound.apply_defaults()
            check(bound.arguments)
            return self.checked(func(*args[:extra], *bound.args, **bound.kwargs))

        return guarded


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int_or_zero(value: Any) -> int:
    return value if _is_int(value) else 0


def _short(value: Any) -> str:
    """An operand as it reads in a message: never thousands of digits."""
    if _is_int(value) and value.bit_length() > 64:
        return f"<{value.bit_length()}-bit integer>"
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."
