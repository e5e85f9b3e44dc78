"""Particle moves: the gradient step of seed (24), Langevin noise, and the box faces."""
from __future__ import annotations

import numpy as np

from ..model.grid import Grid


def apply_boundary(positions: np.ndarray, grid: Grid) -> None:
    """In place: wrap into [lower, upper) on periodic axes; reflect at the faces of
    bounded (no-flux) axes, x < l → 2l − x, x > u → 2u − x (folded, so any excursion lands inside)."""
    for a in range(grid.ndim):
        lower, upper = grid.lower[a], grid.upper[a]
        length = upper - lower
        x = positions[:, a]
        if grid.periodic[a]:
            x[:] = lower + np.mod(x - lower, length)
        else:
            folded = np.mod(x - lower, 2.0 * length)
            x[:] = lower + np.where(folded > length, 2.0 * length - folded, folded)


def langevin_noise(positions: np.ndarray, tau: float, dt: float, rng: np.random.Generator) -> None:
    """In place: θ ← θ + √(2 τ Δt) ξ, ξ ~ N(0, I) (the Brownian part of ∇·(μ∇τ log μ))."""
    if tau > 0:
        positions += np.sqrt(2.0 * tau * dt) * rng.standard_normal(positions.shape)
