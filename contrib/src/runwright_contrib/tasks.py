"""Call functions the example templates use."""

from __future__ import annotations

from typing import Any

from runwright import tag


@tag("local")
def greet(name: str, times: int = 1) -> dict[str, Any]:
    """A tiny call function for the hello example."""
    return {"greeting": " ".join([f"hello {name}"] * times)}


@tag("local", alias="sum-numbers")
async def sum_numbers(numbers: list[float]) -> dict[str, float]:
    """An async call function: the engine runs it on its own event loop."""
    return {"total": sum(numbers)}
