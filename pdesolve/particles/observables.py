"""Observables of μⁿ = Σ_i w_i δ_θi (Σ w = M): mass, mean, covariance, energy, histogram."""
from __future__ import annotations

import numpy as np

from ..model.grid import Grid


def moments(positions: np.ndarray, weights: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """(M, m, C): M = Σ w_i, m = Σ w_i θ_i / M, C = Σ w_i (θ_i − m)(θ_i − m)ᵀ / M."""
    mass = float(weights.sum())
    mean = weights @ positions / mass
    centred = positions - mean
    return mass, mean, (centred.T * weights) @ centred / mass


def energy(weights: np.ndarray, f_values: np.ndarray, interaction_values: np.ndarray) -> float:
    """E = ∫F dμⁿ + ½∫∫K dμⁿ dμⁿ = Σ_i w_i F_i + ½ Σ_i w_i V_int,i (V-statistic, j = i kept).
    The entropy τ∫μ log μ of the grid energy has no particle counterpart and is left out."""
    return float(weights @ f_values + 0.5 * weights @ interaction_values)


def histogram(positions: np.ndarray, weights: np.ndarray, grid: Grid) -> np.ndarray:
    """Density on the grid's cells: Σ_{θ_i in cell} w_i / |cell| (compares with the grid μ)."""
    edges = [np.linspace(l, u, n + 1) for l, u, n in zip(grid.lower, grid.upper, grid.cells)]
    counts, _ = np.histogramdd(positions, bins=edges, weights=weights)
    return counts / grid.cell_volume
