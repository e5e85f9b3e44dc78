"""Dask for pdesolve: check that it is installed, and a client on a given scheduler or on a
new local cluster.  Used by ``pdesolve sweep`` (one task per case) and by the ``--scheduler``
option of ``particles`` and ``compare`` (one task per replicate segment)."""
from __future__ import annotations

import contextlib
import logging
import signal
import socket
from collections.abc import Iterator
from importlib import import_module
from urllib.parse import urlsplit

from ..io.atomic import OutputTargetError

CONNECT_SECONDS = 10.0
DASHBOARD_PROBE_SECONDS = 1.0
MAX_WORKERS_PER_CPU = 4   # local worker processes beyond this many per CPU only compete for them


class DaskMissingError(RuntimeError):
    """Dask (or, for sweep tables, h5netcdf) is not installed."""


def require(*modules: str, command: str) -> None:
    """Raise DaskMissingError, saying how to install them, unless ``modules`` import."""
    for module in modules:
        try:
            import_module(module)
        except ImportError:
            raise DaskMissingError(f"{command} needs {module}, which is not installed; install it with: "
                                   "pip install 'pdesolve[sweep]'") from None


@contextlib.contextmanager
def dask_client(workers: int | None = None, scheduler: str | None = None) -> Iterator[tuple[object, int | None]]:
    """A Dask client and the Numba threads each task should use: attached to ``scheduler``
    (threads left alone), else on a new LocalCluster of ``workers`` (default: one per CPU)
    single-threaded processes that share the CPUs out and are set up by
    :class:`~.dask_plugins.LocalWorker` (they ignore SIGINT/SIGTERM, which are this process's
    business, and run no profiler).  A scheduler that cannot be reached is one line
    (OutputTargetError naming --scheduler)."""
    from distributed import Client, LocalCluster

    from .dask_plugins import LocalWorker
    from .particle_run import available_cpus

    if scheduler is not None:
        try:
            client = Client(scheduler, timeout=CONNECT_SECONDS)
        except (OSError, TimeoutError, ValueError) as err:
            raise OutputTargetError(f"--scheduler: cannot reach a Dask scheduler at {scheduler} "
                                    f"({type(err).__name__}: {err})".splitlines()[0]) from None
        with client:
            yield client, None
        return
    count = workers or available_cpus()
    stops = {signal.SIGINT, signal.SIGTERM}
    # Blocked, not ignored, while the cluster starts: its threads and the worker processes
    # they spawn (now, or later to replace a lost one) inherit the mask and never see a
    # Ctrl-C meant for this process, and one pressed meanwhile is delivered here afterwards.
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, stops)
    try:
        cluster = LocalCluster(n_workers=count, threads_per_worker=1, processes=True,
                               dashboard_address=":0", silence_logs=logging.ERROR)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
    with cluster, Client(cluster) as client:
        client.register_plugin(LocalWorker())   # in every worker, also those replacing lost ones
        yield client, max(1, available_cpus() // count)


def dashboard(client) -> str | None:
    """The address of the Dask dashboard, if one answers there (it needs bokeh)."""
    try:
        link = client.dashboard_link
    except (KeyError, AttributeError):
        return None
    address = urlsplit(link)
    try:
        with socket.create_connection((address.hostname, address.port or 80), timeout=DASHBOARD_PROBE_SECONDS):
            return link
    except (OSError, ValueError):
        return None
