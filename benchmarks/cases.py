"""The benchmark problem: F = ½|x|² on the box [−4, 4]^d with no-flux walls, Gaussian start.

∂t μ = ∇·(μ∇V) − α(V − V̄)μ with V = F (+ K ⋆ μ for a Gaussian kernel K when asked),
balanced reaction, α = 1, τ = 0; Strang splitting, SSP-RK2, fixed Δt = the scheme's
stable step at t = 0.
"""
from __future__ import annotations

import numpy as np

from pdesolve.analysis.exact import GaussianState
from pdesolve.model.grid import Grid
from pdesolve.model.interaction import ConvolutionInteraction, GaussianKernel
from pdesolve.model.problem import Problem, Scheme
from pdesolve.fv.solver import Solver

HALF_WIDTH = 4.0
START_WIDTH = 1.0


def box_grid(cells: tuple[int, ...]) -> Grid:
    """[−4, 4]^d with the given cells per axis, no-flux on every axis."""
    d = len(cells)
    return Grid((-HALF_WIDTH,) * d, (HALF_WIDTH,) * d, tuple(cells), (False,) * d)


def gaussian_start(grid: Grid, mean: tuple[float, ...] | None = None, width: float = START_WIDTH) -> np.ndarray:
    """Point values of N(mean, width² I) at the cell centres (mass ≈ 1)."""
    mean = np.zeros(grid.ndim) if mean is None else np.asarray(mean, dtype=float)
    return GaussianState(1.0, mean, np.full(grid.ndim, width ** 2)).density(grid)


def quadratic_potential(grid: Grid) -> np.ndarray:
    """F = ½|x|² at the cell centres."""
    return 0.5 * sum(axis ** 2 for axis in grid.mesh())


def make_problem(cells: tuple[int, ...], interaction: bool = False, workers: int = 1) -> Problem:
    """The benchmark problem on the box of ``cells``; the Gaussian kernel has width 1, strength 1."""
    grid = box_grid(cells)
    coupling = (ConvolutionInteraction(grid, GaussianKernel(1.0, 1.0), workers=workers)
                if interaction else None)
    return Problem(grid, quadratic_potential(grid), coupling, "balanced", 1.0, 0.0)


def make_solver(cells: tuple[int, ...], order: int = 2, interaction: bool = False,
                workers: int = 1, backend: str = "numba") -> Solver:
    """A ready solver for the benchmark problem (:func:`make_problem`) on ``backend``."""
    problem = make_problem(cells, interaction, workers)
    scheme = Scheme(order=order, theta=2.0, integrator="ssprk2", splitting="strang", backend=backend)
    return Solver(problem, scheme, gaussian_start(problem.grid))


def cube(ndim: int, total_cells: int) -> tuple[int, ...]:
    """Cells per axis giving about ``total_cells`` cells in ``ndim`` dimensions."""
    per_axis = max(4, int(round(total_cells ** (1.0 / ndim))))
    return (per_axis,) * ndim
