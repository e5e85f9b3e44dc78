"""Initial densities μ₀ on a grid.

Cell averages are approximated by the values at the cell centres, and every density is
rescaled so that the grid's midpoint rule gives the requested mass exactly:
grid.integrate(μ₀) = Σ_i μ₀_i |cell| = mass.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..config.expression import compile_expression
from ..config.schema import POSITIVE, REQUIRED, Key, Kind, expression, kind_of, number, per_axis_numbers
from .grid import AXIS_NAMES, Grid, per_axis


def _normalised(values: np.ndarray, grid: Grid, mass: float, what: str) -> np.ndarray:
    """values · mass / grid.integrate(values) as a C-contiguous float64 array of grid.shape."""
    if not (np.isfinite(mass) and mass > 0):
        raise ValueError(f"initial mass must be positive and finite, got {mass}")
    total = grid.integrate(values)
    if not total > 0 or not np.isfinite(total):
        raise ValueError(f"{what} integrates to {total} over the grid; cannot normalise it")
    return np.ascontiguousarray(np.broadcast_to(values * (mass / total), grid.shape),
                                dtype=np.float64)


def gaussian_density(grid: Grid, mean: Sequence[float] | float, std: Sequence[float] | float,
                     mass: float = 1.0) -> np.ndarray:
    """μ₀(θ) ∝ Π_a exp(−(θ_a − m_a)² / (2 s_a²)) at the cell centres, scaled to ``mass``.

    ``mean`` and ``std`` are per axis (a number applies to every axis).  On periodic axes
    the Gaussian is not wrapped around: mass beyond the box is simply cut off (and the
    rest rescaled), so it should be narrow compared with the period.
    """
    mean, std = per_axis(mean, grid.ndim, "Gaussian mean"), per_axis(std, grid.ndim, "Gaussian std")
    if not np.all(std > 0):
        raise ValueError(f"Gaussian std must be positive, got {std.tolist()}")
    values = np.ones(grid.shape)
    for a, centres in enumerate(grid.axes):
        with np.errstate(over="ignore", under="ignore"):   # far tails: exp(−∞) = 0 is exact
            factor = np.exp(-0.5 * ((centres - mean[a]) / std[a]) ** 2)
        values = values * factor.reshape((-1,) + (1,) * (grid.ndim - 1 - a))
    return _normalised(values, grid, mass,
                       f"Gaussian with mean {mean.tolist()}, std {std.tolist()}")


def uniform_density(grid: Grid, mass: float = 1.0) -> np.ndarray:
    """μ₀ = mass / |D|, constant on the box D."""
    return _normalised(np.ones(grid.shape), grid, mass, "uniform density")


def expression_density(grid: Grid, text: str, mass: float = 1.0) -> np.ndarray:
    """μ₀ ∝ the expression ``text`` in ``AXIS_NAMES[:ndim]`` at the cell centres, to ``mass``.

    Raises ValueError when a value is negative or not finite, or the integral is zero.
    """
    values = compile_expression(text, AXIS_NAMES[:grid.ndim])(*grid.mesh())
    if not np.all(np.isfinite(values)):
        raise ValueError(f"initial density {text!r} is not finite everywhere on the grid")
    if np.any(values < 0):
        raise ValueError(f"initial density {text!r} is negative somewhere on the grid "
                         f"(minimum {values.min():.3g})")
    return _normalised(values, grid, mass, f"initial density {text!r}")


# The [initial] (and [dynamics.prior]) kinds of a case file: keys, density up to its mass,
# builder ``build(spec, grid)``; every kind also takes ``mass`` (DENSITY_COMMON).
DENSITIES: dict[str, Kind] = {
    "gaussian": Kind(
        {"mean": Key(per_axis_numbers(), 0.0), "std": Key(per_axis_numbers(POSITIVE), 1.0)},
        doc="Π_a exp(−(θ_a − mean_a)² / (2 std_a²))",
        build=lambda spec, grid: gaussian_density(grid, spec["mean"], spec["std"], float(spec["mass"]))),
    "uniform": Kind({}, doc="1", build=lambda spec, grid: uniform_density(grid, float(spec["mass"]))),
    "expression": Kind(
        {"expr": Key(expression, REQUIRED)},
        doc="the expression in `x`, `y`, `z` (must be ≥ 0 on the grid)",
        build=lambda spec, grid: expression_density(grid, spec["expr"], float(spec["mass"]))),
}
DENSITY_COMMON = {"mass": Key(number(POSITIVE), 1.0)}


def initial_density_from_spec(spec: Mapping, grid: Grid) -> np.ndarray:
    """μ₀ on ``grid`` from a density table (a validated case's, or a dict written by hand:
    missing keys take their case-file defaults); ``mass`` is grid.integrate(μ₀)."""
    entry = kind_of("initial density", DENSITIES, spec)
    return entry.build(entry.complete("initial density", spec, DENSITY_COMMON), grid)
