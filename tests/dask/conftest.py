"""A real two-worker Dask cluster on 127.0.0.1, shared by the tests of this folder."""

from __future__ import annotations

import time
from collections.abc import Iterator

import distributed
import pytest


@pytest.fixture(scope="session")
def dask_cluster() -> Iterator[object]:
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, host="127.0.0.1"
    )
    try:
        yield cluster
    finally:
        time.sleep(1)  # finished tasks' cancel watchers end before the scheduler does
        cluster.close()


@pytest.fixture
def dask_address(dask_cluster, monkeypatch: pytest.MonkeyPatch) -> str:
    """The scheduler address, also as $DASK_ADDRESS for templates; both workers up."""
    with distributed.Client(dask_cluster, set_as_default=False) as client:
        client.wait_for_workers(2, timeout=60)
    monkeypatch.setenv("DASK_ADDRESS", dask_cluster.scheduler_address)
    return dask_cluster.scheduler_address
