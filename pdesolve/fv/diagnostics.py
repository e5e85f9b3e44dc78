"""Diagnostics of a solver state: mass, energy, dissipation rate and friends (DESIGN §1).

    E[μ]   = ∫ F dμ + ½ ∫∫ K dμ dμ + τ ∫ μ log μ
    dE/dt  = ∫ U ∂t μ = −∫ |∇U|² dμ − α ∫ (U − Ū)² dμ      (balanced; U = δE/δμ)

On the grid, dE/dt is evaluated as Σ_i U_i (dμ_i/dt) |cell|, the exact chain rule of the
discrete energy along the semi-discrete flow; summation by parts turns its transport
part into −Σ_faces u Φ |cell| ≈ −∫|∇U|² dμ.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .solver import Solver

def energy(solver: Solver, mu: np.ndarray | None = None, v: np.ndarray | None = None) -> float:
    """E[μ] = Σ_i (F_i + ½ (K⋆μ)_i + τ log μ_i) μ_i |cell|, for the current μ by default;
    ``v`` = V(μ) when the caller already has it."""
    problem = solver.problem
    mu = solver.mu if mu is None else mu
    v = solver.potential(mu) if v is None else v
    interaction_part = v - problem.potential
    density = (problem.potential + 0.5 * interaction_part) * mu
    if problem.tau > 0:
        positive = mu > 0
        density[positive] += problem.tau * mu[positive] * np.log(mu[positive])
    return problem.grid.integrate(density)


def dissipation_rate(solver: Solver) -> float:
    """dE/dt = Σ_i U_i (transport + reaction rate)_i |cell| at the current state."""
    u, transport, reaction = solver.rates()
    return solver.problem.grid.integrate(u * (transport + reaction))


def collect(solver: Solver, dt: float, previous_mu: np.ndarray | None) -> dict[str, float]:
    """One row of diagnostics: t, step, dt, mass, energy, dissipation, V̄ = ∫V dμ/∫dμ,
    min μ, the L¹ distance Σ|μ − μ_prev||cell| to ``previous_mu`` (NaN without one), and
    the network ``loss`` E + ½‖f‖² when the problem defines a loss offset."""
    problem = solver.problem
    grid = problem.grid
    mu = solver.mu
    mass = grid.integrate(mu)
    rate = dissipation_rate(solver)
    v = solver.potential()   # evaluated by dissipation_rate already
    e = energy(solver, mu, v)
    row = {
        "t": solver.t,
        "step": float(solver.steps),
        "dt": float(dt),
        "mass": mass,
        "energy": e,
        "dissipation": rate,
        "v_bar": grid.integrate(v * mu) / mass if mass > 0 else 0.0,
        "min_mu": float(mu.min()),
        "l1_change": math.nan if previous_mu is None else grid.integrate(np.abs(mu - previous_mu)),
    }
    if problem.loss_offset is not None:
        row["loss"] = e + problem.loss_offset
    return row
