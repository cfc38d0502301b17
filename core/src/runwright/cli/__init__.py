"""The ``runwright`` command line (click). One module per command group."""

from runwright.cli.app import app, main

__all__ = ["app", "main"]
