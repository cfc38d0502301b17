"""Executors run job work handed to them; the local one is a thread pool.

Registered through the executor hook exactly as a dask executor plugin would be.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from runwright.hookspecs import hookimpl


def local_thread_executor(max_workers: int) -> ThreadPoolExecutor:
    """Threads in this process: right for orchestration, where stages wait on other systems."""
    return ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="runwright-job")


@hookimpl
def register_executors(register: Callable[[str, Callable[..., Any]], None]) -> None:
    register("local", local_thread_executor)
