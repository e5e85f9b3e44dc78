"""The Numba backend: the array operations of :class:`pdesolve.fv.solver.Solver` on host NumPy
arrays, by the ``cache=True`` kernels of :mod:`.transport` and :mod:`.reaction`.

The geometry (cells, periodicity, 1/h) and the scheme's fixed choices (order, limiter θ, τ) are
bound once, when the backend is built; the kernels underneath stay module-level functions so
that Numba's disk cache serves every process (closures are not disk-cached).
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import numba
import numpy as np

from ....model.grid import Grid
from .. import HostScalars
from . import reaction as rk
from . import transport as tk
from .serial import serial_kernels
from .threads import ThreadChooser

# Below this many cells a second thread gains nothing, and on a shared machine waiting
# for it costs milliseconds per kernel call (measured: 24 s instead of 1.6 s for a 64²
# run with the other core busy), so small grids run the kernels on one thread; larger
# ones on the count a ThreadChooser finds fastest now.
PARALLEL_MIN_CELLS = 1 << 16


class NumbaBackend(HostScalars):
    """Finite-volume operations on flat float64 host arrays of ``grid.size`` cells."""

    name = "numba"

    def __init__(self, grid: Grid, order: int, theta: float, tau: float, diffusion: str = "explicit"):
        self.grid = grid
        self.theta = theta
        self.second_order = order == 2
        self.tau = tau
        pad = 3 - grid.ndim
        self.shape = np.array(grid.cells + (1,) * pad, dtype=np.int64)
        self.periodic = np.array(grid.periodic + (False,) * pad)
        self.inv_h = np.array([1.0 / h for h in grid.spacing] + [1.0] * pad)
        self.single_thread = grid.size < PARALLEL_MIN_CELLS
        # a grid that runs on one thread calls the serial twins of the parallel kernels
        self._tk = serial_kernels(tk) if self.single_thread else tk
        self._rk = serial_kernels(rk) if self.single_thread else rk
        # the kernels of this grid's dimension (each dimension is compiled on its first use)
        axes = tk.kernel_axes(self.shape)
        self._stage_kernel = getattr(self._tk, tk.STAGE_KERNELS[axes].__name__)
        self._rhs_kernel = getattr(self._tk, tk.RHS_KERNELS[axes].__name__)
        most = numba.get_num_threads()
        self.thread_chooser = ThreadChooser((1,) if self.single_thread else (most, max(1, most // 2), 1))
        # the moment sums' block: one block (the sum in cell order) where one thread runs
        self.sum_block = grid.size if self.single_thread else rk.BLOCK
        # block sums, added in order by the kernels: ⌈size / BLOCK⌉ rows cover both block lengths
        self._partials = np.empty((-(-grid.size // rk.BLOCK), 3))
        # ``diffusion`` implicit: transport and diffusion are one implicit step, which has no
        # stability limit (so no τ term in the rate bound); this instance only gives the rate
        self.implicit = None
        if diffusion == "implicit":
            from .implicit import ImplicitFokkerPlanck   # SciPy's sparse LU, only when used
            self.implicit = ImplicitFokkerPlanck(grid, tau)
        self.diffusion_rate = (0.0 if self.implicit is not None
                               else 2.0 * tau * float(np.sum(self.inv_h[: grid.ndim] ** 2)))

    # -- arrays ------------------------------------------------------------------
    def empty(self) -> np.ndarray:
        """An uninitialised work array of one value per cell."""
        return np.empty(self.grid.size)

    def from_host(self, values: np.ndarray, copy: bool = True) -> np.ndarray:
        """The grid-shaped host array ``values`` as a flat float64 array: a copy, or with
        ``copy`` False a view where the layout allows (for data the solver only reads)."""
        flat = np.ascontiguousarray(values, dtype=np.float64).reshape(self.grid.size)
        return flat.copy() if copy else flat

    def copy(self, source: np.ndarray, out: np.ndarray) -> None:
        """out = source."""
        out[:] = source

    def total(self, values: np.ndarray) -> float:
        """Σ_i values_i."""
        return float(np.sum(values))

    def extrema(self, values: np.ndarray) -> tuple[float, float]:
        """(min_i values_i, max_i values_i)."""
        return float(values.min()), float(values.max())

    def to_host(self, array: np.ndarray) -> np.ndarray:
        """``array`` as a grid-shaped host array (a view: the arrays already live on the host)."""
        return array.reshape(self.grid.shape)

    @contextmanager
    def threads(self, timed: bool = False) -> Iterator[None]:
        """Run the enclosed kernels on the thread count of `thread_chooser` (one thread for a
        small grid); ``timed``: the block is one step, whose time the chooser learns from."""
        previous = numba.get_num_threads()
        count = self.thread_chooser.count()
        switch = count != previous  # set_num_threads costs microseconds: a small grid's step
        if switch:
            numba.set_num_threads(count)
        started = time.perf_counter()
        try:
            yield
        finally:
            if switch:
                numba.set_num_threads(previous)
        if timed:
            self.thread_chooser.record(count, time.perf_counter() - started)

    # -- V = F + K ⋆ μ --------------------------------------------------------------
    def potential(self, f: np.ndarray, interaction, mu: np.ndarray, work: np.ndarray,
                  out: np.ndarray) -> None:
        """out = F + K ⋆ μ; ``interaction.potential`` writes K ⋆ μ into the grid-shaped ``work``."""
        interaction.potential(mu.reshape(self.grid.shape), work)
        np.add(f, work.reshape(-1), out=out)

    # -- transport -----------------------------------------------------------------
    def transport_stage(self, mu: np.ndarray, v: np.ndarray, base: np.ndarray, weight_base: float,
                        weight_stage: float, dt: float, out: np.ndarray) -> None:
        """out = a · base + b · (μ − Δt Σ_a (Φ_{a,i+½} − Φ_{a,i−½}) / h_a), one SSP stage."""
        self._stage_kernel(mu, v, base, weight_base, weight_stage, dt, self.shape, self.periodic,
                           self.inv_h, self.theta, self.second_order, self.tau, out)

    def implicit_stepper(self):
        """A new :class:`~.implicit.ImplicitFokkerPlanck` for one solver (``diffusion``
        implicit): its ``step(μ, V, Δt, out)`` keeps that solver's LU factorisations, which
        therefore go with the solver and are never shared by two (the backend is)."""
        from .implicit import ImplicitFokkerPlanck
        return ImplicitFokkerPlanck(self.grid, self.tau)

    def transport_rate(self, mu: np.ndarray, v: np.ndarray, out: np.ndarray) -> None:
        """out = −Σ_a (Φ_{a,i+½} − Φ_{a,i−½}) / h_a, the semi-discrete transport rate (A(V) μ
        with the implicit diffusion's fluxes)."""
        if self.implicit is not None:
            self.implicit.rate(mu, v, out)
            return
        self._rhs_kernel(mu, v, self.shape, self.periodic, self.inv_h, self.theta,
                         self.second_order, self.tau, out)

    def transport_rate_bound(self, v: np.ndarray, speeds: np.ndarray) -> float:
        """Σ_a 2 max|u_a| / h_a + 2τ Σ_a 1/h_a² (no τ term with the implicit diffusion step),
        with the face speeds max|u_a| written to ``speeds`` (3 entries)."""
        self._tk.max_face_speeds(v, self.shape, self.periodic, self.inv_h, speeds)
        return self.speeds_rate_bound(speeds)

    def speeds_rate_bound(self, speeds: np.ndarray) -> float:
        """The transport part of ν/Δt from face speeds found before (V unchanged since)."""
        return 2.0 * float(np.dot(speeds, self.inv_h)) + self.diffusion_rate

    # -- reaction ----------------------------------------------------------------
    def total_potential(self, v: np.ndarray, mu: np.ndarray, out: np.ndarray) -> None:
        """out = U = V + τ (log μ + 1)."""
        self._rk.total_potential(v, mu, self.tau, out)

    def moment_sums(self, mu: np.ndarray, u: np.ndarray) -> tuple[float, float]:
        """(Σ_i μ_i, Σ_i U_i μ_i)."""
        return self._rk.moment_sums(mu, u, self.sum_block, self._partials)

    def signed_moment_sums(self, mu: np.ndarray, u: np.ndarray) -> tuple[float, float, float]:
        """(Σ_i μ_i, Σ_i max(U_i, 0) μ_i, Σ_i max(−U_i, 0) μ_i)."""
        return self._rk.signed_moment_sums(mu, u, self.sum_block, self._partials)

    def max_rate(self, mu: np.ndarray, u: np.ndarray, shift: float) -> float:
        """max over cells with μ > 0 of |U − s|."""
        return self._rk.max_rate(mu, u, shift)

    def exponential_reaction(self, mu: np.ndarray, u: np.ndarray, shift: float,
                             rate_dt: float) -> float:
        """μ ← μ exp(−αΔt (U − s)) (``rate_dt`` = αΔt); returns Σ μ after."""
        return self._rk.exponential_reaction(mu, u, shift, rate_dt, self._partials)

    def reinjection_reaction(self, mu: np.ndarray, u: np.ndarray, prior: np.ndarray, shift: float,
                             source: float, alpha: float, dt: float) -> float:
        """Exact step of dμ/dt = −α(U − s)μ + αqμ_b with U, s, q frozen; returns Σ μ after."""
        return self._rk.reinjection_reaction(mu, u, prior, shift, source, alpha, dt, self.sum_block,
                                       self._partials)

    def exponential_factors(self, u: np.ndarray, shift: float, rate_dt: float,
                            out: np.ndarray) -> None:
        """out = exp(−αΔt (U − s))."""
        self._rk.exponential_factors(u, shift, rate_dt, out)

    def multiply(self, mu: np.ndarray, factors: np.ndarray) -> float:
        """μ ← μ · factors; returns Σ μ after."""
        return self._rk.multiply(mu, factors, self._partials)

    def zero_below(self, mu: np.ndarray, floor: float) -> float:
        """μ ← 0 where μ < floor; returns Σ μ after."""
        return self._rk.zero_below(mu, floor, self._partials)

    def scale(self, mu: np.ndarray, factor: float) -> None:
        """μ ← c μ."""
        self._rk.scale(mu, factor)
