"""The entry point: registers the ``dask`` executor through runwright's executor hook."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from runwright.hookspecs import hookimpl


def dask_executor(max_workers: int, address: str | None = None, retries: int = 0) -> Any:
    from runwright_dask.executor import DaskExecutor  # distributed is imported only when used

    return DaskExecutor(max_workers, address=address, retries=retries)


@hookimpl
def register_executors(register: Callable[[str, Callable[..., Any]], None]) -> None:
    register("dask", dask_executor)
