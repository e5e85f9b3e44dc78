"""Memory-bandwidth roofline of a full step (transport + balanced reaction, no interaction).

Bytes one Strang + SSP-RK2 step must move, counted in float64 arrays of N cells
(neighbour reads of the stencil assumed to hit cache):

* SSP stage 1: read μ, V, write μ⁽¹⁾                         3 arrays
* SSP stage 2: read μ⁽¹⁾, V, μ (the Shu–Osher base), write μ  4 arrays
* each reaction half-step: one pass reading μ, V for Σμ, ΣVμ, and one
  pass reading μ, V and writing μ = μ e^{−αΔt(V−V̄)}            2 + 3 = 5 arrays, twice

minimum = 17 arrays × 8 B × N.  The code as written moves more: the reaction half
step writes U (= V when τ = 0) before the moment pass, rescales μ to the conserved
mass in a separate pass, and the transport ends with a copy μ ← μ⁽²⁾, i.e.
as implemented = 2·(2 + 2 + 3 + 2) + 3 + 4 + 2 = 27 arrays × 8 B × N.
"""
from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

from cases import make_solver
from timing import median_seconds

MIN_ARRAYS_PER_STEP = 17
IMPLEMENTED_ARRAYS_PER_STEP = 27
BYTES_PER_VALUE = 8


@njit(parallel=True, cache=True)
def parallel_triad(a, b, c, scalar):
    """a = b + s·c, one fused parallel pass (STREAM triad)."""
    for i in prange(a.size):
        a[i] = b[i] + scalar * c[i]


def bandwidth(values: int, repeats: int) -> dict[str, float]:
    """Bytes/s of copy (16 B/value) and triad (24 B/value, STREAM counting, no write-allocate)."""
    a = np.zeros(values)
    b = np.random.default_rng(0).random(values)
    c = np.random.default_rng(1).random(values)
    copy = median_seconds(lambda: np.copyto(a, b), repeats)
    numpy_triad = median_seconds(lambda: (np.multiply(c, 3.0, out=a), np.add(a, b, out=a)), repeats)
    numba_triad = median_seconds(lambda: parallel_triad(a, b, c, 3.0), repeats)
    return {
        "numpy copy": 16 * values / copy,
        "numpy triad": 24 * values / numpy_triad,
        "numba parallel triad": 24 * values / numba_triad,
    }


def step_throughput(cells: tuple[int, ...], order: int, repeats: int) -> dict[str, float]:
    """Median seconds of ``solver.step(dt)`` and cell updates per second."""
    solver = make_solver(cells, order=order)
    dt = solver.stable_dt()
    seconds = median_seconds(lambda: solver.step(dt), repeats)
    size = solver.problem.grid.size
    return {"seconds": seconds, "cells": size, "updates_per_s": size / seconds}


def kernel_profile(cells: tuple[int, ...], order: int, repeats: int) -> dict[str, float]:
    """Median seconds of each kernel the step calls, on the step's own arrays.

    Small grids (< PARALLEL_MIN_CELLS) run on one thread inside the solver; the kernels
    timed here run on the current Numba thread count.
    Per step: 2 × transport_stage, 2 × (total_potential, moment_sums,
    exponential_reaction, scale) and one μ ← μ⁽²⁾ copy; max_face_speeds belongs to
    stable_dt (called once per step by Solver.advance), not to step().
    """
    solver = make_solver(cells, order=order)
    dt = solver.stable_dt()
    s = solver
    from pdesolve.kernels import reaction as rk
    from pdesolve.kernels import transport as tk
    mu, v, u, out = s._mu, s._v, s._u, s._stage
    mu_copy = mu.copy()

    def stage():
        tk.transport_stage(mu, v, mu, 0.0, 1.0, dt, s._shape, s._periodic, s._inv_h,
                           s.scheme.theta, s._second_order, 0.0, out)

    timings = {
        "transport_stage": median_seconds(stage, repeats),
        "max_face_speeds": median_seconds(
            lambda: tk.max_face_speeds(v, s._shape, s._periodic, s._inv_h, s._speeds), repeats),
        "total_potential": median_seconds(lambda: rk.total_potential(v, mu, 0.0, u), repeats),
        "moment_sums": median_seconds(lambda: rk.moment_sums(mu, u), repeats),
        "exponential_reaction": median_seconds(
            lambda: (mu.__setitem__(slice(None), mu_copy), rk.exponential_reaction(mu, u, 0.0, 0.0)),
            repeats),
        "copy for exponential_reaction timing": median_seconds(
            lambda: mu.__setitem__(slice(None), mu_copy), repeats),
        "scale": median_seconds(lambda: rk.scale(mu, 1.0), repeats),
        "copy mu <- stage": median_seconds(lambda: mu.__setitem__(slice(None), out), repeats),
    }
    timings["exponential_reaction"] -= timings.pop("copy for exponential_reaction timing")
    step = median_seconds(lambda: s.step(dt), repeats)
    in_step = (2 * timings["transport_stage"] + timings["copy mu <- stage"]
               + 2 * (timings["total_potential"] + timings["moment_sums"]
                      + timings["exponential_reaction"] + timings["scale"]))
    timings["step() total"] = step
    timings["sum of kernels in step()"] = in_step
    timings["python/numpy glue (step − sum)"] = step - in_step
    return timings


def set_threads(threads: int) -> None:
    """Numba's thread count for all following parallel kernels."""
    numba.set_num_threads(threads)
