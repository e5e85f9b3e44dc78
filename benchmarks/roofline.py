"""Memory-bandwidth roofline of a full step (transport + balanced reaction, no interaction).

Bytes one Strang + SSP-RK2 step must move, counted in float64 arrays of N cells
(neighbour reads of the stencil assumed to hit cache):

* SSP stage 1: read μ, V, write μ⁽¹⁾                         3 arrays
* SSP stage 2: read μ⁽¹⁾, V, μ (the Shu–Osher base), write μ  4 arrays
* each reaction half-step: one pass reading μ and the reaction factors (or V) and
  writing μ e^{−αΔt(V−s)} while summing it, and one pass rescaling μ to the
  conserved mass                                               3 + 2 = 5 arrays, twice

minimum = 17 arrays × 8 B × N, and the code moves exactly that: with V = F fixed the
factors e^{−αΔt(F−s₀)} are kept from step to step (recomputed only when Δt changes),
the last SSP stage writes into a spare buffer that then becomes μ (no copy), and the
face speeds of F for ``stable_dt`` are kept too.
"""
from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

from cases import make_solver
from timing import median_seconds

MIN_ARRAYS_PER_STEP = 17
# Arrays a step keeps in use (μ, V, the two stage buffers, the reaction factors): the
# same-footprint triad uses arrays of WORKING_ARRAYS · N / 3 values each.
WORKING_ARRAYS = 5
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


def same_footprint_triad(cells_count: int, repeats: int) -> float:
    """Bytes/s of the Numba parallel triad on three arrays whose total size equals the
    step's working set (WORKING_ARRAYS arrays of ``cells_count`` values): the bandwidth
    of whichever cache level or memory holds that working set."""
    values = -(-WORKING_ARRAYS * cells_count // 3)
    a = np.zeros(values)
    b = np.random.default_rng(0).random(values)
    c = np.random.default_rng(1).random(values)
    return 24 * values / median_seconds(lambda: parallel_triad(a, b, c, 3.0), repeats)


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
    Per step: 2 × transport_stage and 2 × (multiply, scale).  exponential_factors runs
    only when Δt changes and max_face_speeds only when V changes (never, for V = F);
    both are listed for reference but are not part of a step.
    """
    solver = make_solver(cells, order=order)
    dt = solver.stable_dt()
    solver.step(dt)  # builds the kept reaction factors
    s = solver
    from pdesolve.fv.backends.numba import reaction as rk
    from pdesolve.fv.backends.numba import transport as tk
    mu, v, out, factors = s._mu, s._v, s._stage, s._factors
    ops = s.backend
    ones = np.ones_like(factors)

    def stage():
        tk.transport_stage(mu, v, mu, 0.0, 1.0, dt, ops.shape, ops.periodic, ops.inv_h,
                           ops.theta, ops.second_order, 0.0, out)

    timings = {
        "transport_stage": median_seconds(stage, repeats),
        "multiply": median_seconds(lambda: rk.multiply(mu, ones, ops._partials), repeats),
        "scale": median_seconds(lambda: rk.scale(mu, 1.0), repeats),
        "exponential_factors (when Δt changes)": median_seconds(
            lambda: rk.exponential_factors(v, 0.0, 0.0, out), repeats),
        "max_face_speeds (when V changes)": median_seconds(
            lambda: tk.max_face_speeds(v, ops.shape, ops.periodic, ops.inv_h, s._speeds), repeats),
    }
    step = median_seconds(lambda: s.step(dt), repeats)
    in_step = 2 * (timings["transport_stage"] + timings["multiply"] + timings["scale"])
    timings["step() total"] = step
    timings["sum of kernels in step()"] = in_step
    timings["python/numpy glue (step − sum)"] = step - in_step
    return timings


def set_threads(threads: int) -> None:
    """Numba's thread count for all following parallel kernels."""
    numba.set_num_threads(threads)
