"""runwright's workflow server: the HTTP API under ``/api/v1`` and the observe pages.

``create_app(service)`` builds the FastAPI application; ``runwright serve`` (contributed to the
CLI by :mod:`runwright_api.plugin`) runs it with uvicorn.
"""

from __future__ import annotations

__all__ = ["create_app", "RunService"]


def __getattr__(name: str):  # lazy: loading the plugin must not import FastAPI
    if name == "create_app":
        from runwright_api.app import create_app

        return create_app
    if name == "RunService":
        from runwright_api.service import RunService

        return RunService
    raise AttributeError(name)
