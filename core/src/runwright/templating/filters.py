"""The built-in template filters, registered through the filter hook like any plugin's."""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from runwright.hookspecs import hookimpl


def fmt(value: Any, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """strftime for datetimes and dates; ISO strings are parsed first."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, date):
        raise TypeError(f"fmt expects a date or datetime, got {type(value).__name__}")
    return value.strftime(fmt)


def coalesce(value: Any, default: Any) -> Any:
    """``default`` when ``value`` is None (or undefined via the ``?`` of other tools)."""
    return default if value is None else value


def getitem(value: Mapping[Any, Any], key: Any, default: Any = None) -> Any:
    if not isinstance(value, Mapping):
        raise TypeError(f"getitem expects a mapping, got {type(value).__name__}")
    return value.get(key, default)


def getindex(value: Sequence[Any], index: int) -> Any:
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise TypeError(f"getindex expects a list, got {type(value).__name__}")
    return value[index]


def to_json(value: Any, indent: int | None = None) -> str:
    return json.dumps(value, default=_json_default, indent=indent)


def _json_default(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def rstr(value: Any) -> str:
    """The Python literal of the value's text (``repr(str(value))``), as the peer's ``rstr``."""
    return repr(str(value))


def mapping_keys(value: Mapping[Any, Any]) -> list[Any]:
    if not isinstance(value, Mapping):
        raise TypeError(f"keys expects a mapping, got {type(value).__name__}")
    return list(value.keys())


def mapping_values(value: Mapping[Any, Any]) -> list[Any]:
    if not isinstance(value, Mapping):
        raise TypeError(f"values expects a mapping, got {type(value).__name__}")
    return list(value.values())


def shell_quote(value: Any) -> str:
    """Quote a value for a shell command line (``shlex.quote``)."""
    return shlex.quote(str(value))


BUILTIN_FILTERS: dict[str, Callable[..., Any]] = {
    "fmt": fmt,
    "str": str,
    "int": int,
    "float": float,
    "upper": lambda value: str(value).upper(),
    "lower": lambda value: str(value).lower(),
    "title": lambda value: str(value).title(),
    "abs": abs,
    "coalesce": coalesce,
    "getitem": getitem,
    "getindex": getindex,
    "json": to_json,
    "shell_quote": shell_quote,
    "rstr": rstr,
    "keys": mapping_keys,
    "values": mapping_values,
    "dict": dict,
    "list": list,
}


@hookimpl
def register_filters(register: Callable[[str, Callable[..., Any]], None]) -> None:
    for name, func in BUILTIN_FILTERS.items():
        register(name, func)
