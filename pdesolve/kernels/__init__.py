"""Numba kernels, each compiled twice: multi-threaded, and serial for small grids.

A parallel region costs a thread wake-up per call (microseconds on an idle machine,
milliseconds when another process holds the other cores), which small grids cannot
amortise; :func:`kernel_set` picks the serial twins below ``PARALLEL_MIN_CELLS``.
"""
from __future__ import annotations

import types
from types import SimpleNamespace

from numba import njit

PARALLEL_MIN_CELLS = 1 << 16


def compile_twins(fn):
    """(parallel, serial) Numba compilations of ``fn`` (prange runs as range in the serial
    one), each cached on disk under its own name."""
    parallel = njit(parallel=True, cache=True)(fn)
    twin = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__ + "_serial",
                              fn.__defaults__, fn.__closure__)
    twin.__qualname__ = fn.__qualname__ + "_serial"
    twin.__doc__ = fn.__doc__
    return parallel, njit(cache=True)(twin)


def kernel_set(cells: int) -> SimpleNamespace:
    """The transport and reaction kernels to use on a grid of ``cells`` cells."""
    from . import reaction, transport
    suffix = "" if cells >= PARALLEL_MIN_CELLS else "_serial"
    names_t = ("transport_stage", "transport_rhs", "max_face_speeds")
    names_r = ("total_potential", "moment_sums", "max_rate", "exponential_reaction",
               "reinjection_reaction", "scale")
    chosen = {name: getattr(transport, name + suffix) for name in names_t}
    chosen.update({name: getattr(reaction, name + suffix) for name in names_r})
    return SimpleNamespace(**chosen)
