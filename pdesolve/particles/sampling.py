"""Draw particle positions from a case's density specification ([initial] or dynamics.prior)."""
from __future__ import annotations

import numpy as np

from ..model.grid import Grid
from ..model.initial import initial_density_from_spec


def sample_gaussian_in_box(mean, std, grid: Grid, n: int, rng: np.random.Generator) -> np.ndarray:
    """n points of Π_a N(mean_a, std_a²) conditioned on the box (the grid also cuts the
    Gaussian at the box and renormalises), by rejection."""
    mean = np.broadcast_to(np.asarray(mean, dtype=float), (grid.ndim,))
    std = np.broadcast_to(np.asarray(std, dtype=float), (grid.ndim,))
    lower, upper = np.array(grid.lower), np.array(grid.upper)
    out = np.empty((n, grid.ndim))
    filled = 0
    for _ in range(1000):
        draw = mean + std * rng.standard_normal((max(2 * (n - filled), 16), grid.ndim))
        inside = draw[np.all((draw >= lower) & (draw < upper), axis=1)][: n - filled]
        out[filled:filled + inside.shape[0]] = inside
        filled += inside.shape[0]
        if filled == n:
            return out
    raise ValueError("the Gaussian has almost no mass inside the box")


def sample_grid_density(density: np.ndarray, grid: Grid, n: int,
                        rng: np.random.Generator) -> np.ndarray:
    """n points: a cell with probability ∝ its density, then uniform inside the cell."""
    p = density.ravel() / density.sum()
    cells = np.unravel_index(rng.choice(p.size, size=n, p=p), grid.shape)
    h = np.array(grid.spacing)
    corner = np.array(grid.lower) + np.stack(cells, axis=1) * h
    return corner + rng.random((n, grid.ndim)) * h


def sample_density_spec(spec, grid: Grid, n: int, rng: np.random.Generator,
                        density: np.ndarray | None = None) -> np.ndarray:
    """n positions (n, d) from a validated density entry: Gaussian exactly (cut at the
    box), any other kind from its grid density (``density`` when the caller has built it,
    e.g. the setup's μ₀)."""
    if spec["kind"] == "gaussian":
        return sample_gaussian_in_box(spec["mean"], spec["std"], grid, n, rng)
    return sample_grid_density(initial_density_from_spec(spec, grid) if density is None else density,
                               grid, n, rng)
