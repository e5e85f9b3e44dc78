"""Dask worker plugins of pdesolve (this module imports Dask: import it only once Dask is known
to be installed, see :func:`pdesolve.drive.dask_cluster.require`)."""
from __future__ import annotations

import signal
import threading

from distributed import WorkerPlugin


class IgnoreStopSignals(WorkerPlugin):
    """The worker process ignores SIGINT and SIGTERM; set up again in every worker that
    replaces a lost one.  Only for the LocalCluster of a pdesolve process, whose workers
    share its terminal: a Ctrl-C is for that process, which stops the tasks at checkpoints."""

    name = "pdesolve-ignore-stop-signals"

    def setup(self, worker) -> None:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, signal.SIG_IGN)
