"""Dask worker plugins of pdesolve (this module imports Dask: import it only once Dask is known
to be installed, see :func:`pdesolve.drive.dask_cluster.require`)."""
from __future__ import annotations

import signal
import threading

from distributed import WorkerPlugin

# the worker's statistical profiler samples every thread's stack 100 times a second, taking
# the GIL from the task: grid runs were measured 15-20 % slower with it (benchmarks/SWEEP.md)
PROFILER_CALLBACKS = ("profile", "profile-cycle")


class LocalWorker(WorkerPlugin):
    """Set up a worker of a pdesolve process's own LocalCluster (again in every worker that
    replaces a lost one): it ignores SIGINT and SIGTERM, since it shares that process's
    terminal and a Ctrl-C is for the process, which stops the tasks at checkpoints; and its
    profiler is off."""

    name = "pdesolve-local-worker"

    def setup(self, worker) -> None:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, signal.SIG_IGN)
        for name in PROFILER_CALLBACKS:
            callback = worker.periodic_callbacks.get(name)
            if callback is not None:
                callback.stop()
