"""Serial twins of the ``parallel=True`` kernels, for grids that run on one thread.

A twin is the same Python function compiled without ``parallel``: ``prange`` runs as
``range``, so every cell gets the same arithmetic in the same order (block sums included:
the blocks and their ordered total are written out in the kernels) and the results are
bit for bit those of the parallel kernel.  What it drops is the parfor machinery: the
thread launch of every call (about 1.2 µs, most of a kernel call on a small grid) and
about half the compile time.  A twin has its own qualified name (``<name>_serial``), so
its entry in Numba's disk cache stays apart from the parallel kernel's.
"""
from __future__ import annotations

import types
from types import ModuleType, SimpleNamespace

from numba import njit
from numba.core.registry import CPUDispatcher

_twins: dict[ModuleType, SimpleNamespace] = {}


def serial_twin(kernel: CPUDispatcher) -> CPUDispatcher:
    """``kernel`` itself if it is not parallel, else its serial twin (``cache=True``, as every
    parallel kernel here is)."""
    if not kernel.targetoptions.get("parallel"):
        return kernel
    fn = kernel.py_func
    twin = types.FunctionType(fn.__code__, fn.__globals__, f"{fn.__name__}_serial",
                              fn.__defaults__, fn.__closure__)
    twin.__qualname__ = f"{fn.__qualname__}_serial"
    twin.__module__ = fn.__module__
    twin.__doc__ = fn.__doc__
    options = {key: value for key, value in kernel.targetoptions.items()
               if key not in ("parallel", "nopython")}
    return njit(cache=True, **options)(twin)


def serial_kernels(module: ModuleType) -> SimpleNamespace:
    """The kernels of ``module`` by name, each parallel one replaced by its serial twin
    (built once per process; nothing is compiled before its first call)."""
    if module not in _twins:
        _twins[module] = SimpleNamespace(**{name: serial_twin(value) for name, value in vars(module).items()
                                            if isinstance(value, CPUDispatcher)})
    return _twins[module]
