"""``tasks/simple-task@demo`` and ``tasks/simple-csv-task@demo``: report one record moved."""

from __future__ import annotations

from typing import Any

from runwright import tag


@tag("demo", alias="simple-task")
def simple_task(source: str, sink: str, conversion: dict[str, Any] | None = None) -> dict[str, int]:
    return {"records": 1}


@tag("demo", alias="simple-csv-task")
def simple_csv_task(source: Any, sink: Any, conversion: dict[str, Any] | None = None) -> dict[str, int]:
    return {"records": 1}
