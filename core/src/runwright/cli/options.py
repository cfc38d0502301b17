"""Options several commands share, so each is spelt, typed and explained the same everywhere.

Only click is imported here: a command's ``--help`` builds its options without loading models.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

PATH = click.Path(path_type=Path)
"""A path as given (no existence check here: the command says what is wrong with it)."""

conf_option = click.option(
    "--conf", "-c", type=PATH, default=None, help="Conf path (default: $RUNWRIGHT_CONF or ./conf)."
)
store_conf_option = click.option(
    "--conf",
    "-c",
    type=PATH,
    default=None,
    help="Conf path whose state folder holds the default store (default: $RUNWRIGHT_CONF or ./conf).",
)


def param_option(help: str) -> Callable[[F], F]:
    """``-p KEY=VALUE``, repeatable; the values are data, never rendered as expressions."""
    return click.option("--param", "-p", "param", multiple=True, metavar="KEY=VALUE", help=help)


def json_option(help: str | None = None) -> Callable[[F], F]:
    return click.option("--json", "as_json", is_flag=True, help=help)


class Bounded(click.IntRange):
    """An integer between bounds whose error names the bound in words (``--limit 0``:
    "must be greater than or equal to 1, got 0"); the help shows the range (``x>=1``)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        number: int = click.INT.convert(value, param, ctx)
        if self.min is not None and number < self.min:
            self.fail(f"must be greater than or equal to {self.min}, got {number}", param, ctx)
        if self.max is not None and number > self.max:
            self.fail(f"must be less than or equal to {self.max}, got {number}", param, ctx)
        return number
