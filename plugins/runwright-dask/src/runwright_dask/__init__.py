"""runwright's Dask executor: ``runs-on: {type: dask, address: tcp://host:8786}``.

``distributed`` is imported only when a run uses the executor (``runwright_dask.executor``).
"""
