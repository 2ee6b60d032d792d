"""The Dask cluster a batch runs on: a LocalCluster sized to the machine, or a running scheduler."""
from __future__ import annotations

import contextlib
import os
import re
from typing import Any, Iterator

from siting.errors import ConfigError, InputError


@contextlib.contextmanager
def dask_client(scheduler: str = "local", workers: int | None = None) -> Iterator[Any]:
    """A ``distributed.Client``: a LocalCluster sized to the machine, or a running scheduler."""
    import logging

    from distributed import Client, LocalCluster

    if scheduler == "local":
        import dask

        n = workers or os.cpu_count() or 1
        # a district whose worker dies fails at once (Dask would hand it to the next worker, and the next)
        with dask.config.set({"distributed.scheduler.allowed-failures": 0}), \
                LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0",
                             silence_logs=logging.CRITICAL) as cluster, Client(cluster) as client:
            yield client
        return
    if not re.match(r"^(tcp|tls|ucx|inproc)://", scheduler):
        raise ConfigError(f"--scheduler '{scheduler}' is neither 'local' nor an address like tcp://host:8786")
    try:
        client = Client(scheduler, timeout="10s")
    except (OSError, TimeoutError) as exc:
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())
        raise InputError(f"cannot reach the Dask scheduler at {scheduler} ({reason}): start one with "
                         "'dask scheduler' and 'dask worker', or use --scheduler local") from None
    with client:
        yield client


def dashboard_address(client: Any) -> str | None:
    """The Dask dashboard URL when the scheduler runs one (it needs bokeh), else None."""
    services = client.scheduler_info().get("services", {})
    return client.dashboard_link if "dashboard" in services else None
