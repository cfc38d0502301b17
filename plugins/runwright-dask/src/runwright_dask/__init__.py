"""runwright's Dask executor: ``runs-on: {type: dask, address: tcp://host:8786}``."""

from runwright_dask.executor import DaskExecutor

__all__ = ["DaskExecutor"]
