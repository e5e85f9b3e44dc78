"""Timing and machine-description helpers shared by the benchmark modules."""
from __future__ import annotations

import os
import platform
import statistics
import time
from typing import Callable

import numba
import numpy as np
import scipy


def median_seconds(fn: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    """Median wall time (s) of ``fn()`` over ``repeats`` calls after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def first_call_seconds(fn: Callable[[], object]) -> float:
    """Wall time (s) of a single call (used for the first, compiling call)."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def cpu_model() -> str:
    """The ``model name`` line of /proc/cpuinfo (platform.processor() as a fallback)."""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_average() -> tuple[float, float, float]:
    """The 1, 5 and 15 minute load averages."""
    return os.getloadavg()


def cache_sizes() -> str:
    """Data/unified cache sizes of CPU 0 per level, from sysfs ("unknown" elsewhere)."""
    root = "/sys/devices/system/cpu/cpu0/cache"
    sizes = []
    try:
        for entry in sorted(os.listdir(root)):
            if not entry.startswith("index"):
                continue
            with open(os.path.join(root, entry, "type")) as f:
                kind = f.read().strip()
            if kind == "Instruction":
                continue
            with open(os.path.join(root, entry, "level")) as f, \
                    open(os.path.join(root, entry, "size")) as g:
                sizes.append(f"L{f.read().strip()} {g.read().strip()}")
    except OSError:
        return "unknown"
    return ", ".join(sizes) or "unknown"


def machine_info() -> dict[str, str]:
    """CPU, core count, threads and library versions as printable strings."""
    return {
        "CPU": cpu_model(),
        "logical cores (os.cpu_count)": str(os.cpu_count()),
        "usable cores (sched_getaffinity)": str(len(os.sched_getaffinity(0))),
        "caches of CPU 0 (data/unified, per instance)": cache_sizes(),
        "Python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "numba": numba.__version__,
        "numba threading layer max threads (NUMBA_NUM_THREADS)": str(numba.config.NUMBA_NUM_THREADS),
        "OMP_WAIT_POLICY / NUMBA_THREADING_LAYER in the environment": "%s / %s" % (
            os.environ.get("OMP_WAIT_POLICY", "unset"), os.environ.get("NUMBA_THREADING_LAYER", "unset")),
        "load average at start (1/5/15 min)": "%.2f / %.2f / %.2f" % load_average(),
    }
