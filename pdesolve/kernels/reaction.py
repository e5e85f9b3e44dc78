"""Numba kernels for the reaction (birth–death) part  ∂t μ = −α (U − s) μ + α q μ_b.

All arrays are flat float64 views of the grid.  U is frozen over a sub-step, which
makes every update below the exact solution of a linear ODE per cell.
"""
from __future__ import annotations

import math

from numba import njit, prange

LOG_FLOOR = 1e-300


@njit(parallel=True, cache=True)
def total_potential(v, mu, tau, out):
    """out = U = V + τ (log μ + 1), with μ floored at 1e-300 inside the log when τ > 0."""
    for i in prange(v.size):
        if tau > 0.0:
            out[i] = v[i] + tau * (math.log(max(mu[i], LOG_FLOOR)) + 1.0)
        else:
            out[i] = v[i]


@njit(parallel=True, cache=True)
def moment_sums(mu, u):
    """(Σ_i μ_i, Σ_i U_i μ_i)."""
    mass = 0.0
    first = 0.0
    for i in prange(mu.size):
        mass += mu[i]
        first += u[i] * mu[i]
    return mass, first


@njit(parallel=True, cache=True)
def signed_moment_sums(mu, u):
    """(Σ_i μ_i, Σ_i max(U_i, 0) μ_i, Σ_i max(−U_i, 0) μ_i)."""
    mass = 0.0
    positive = 0.0
    negative = 0.0
    for i in prange(mu.size):
        mass += mu[i]
        positive += max(u[i], 0.0) * mu[i]
        negative += max(-u[i], 0.0) * mu[i]
    return mass, positive, negative


@njit(parallel=True, cache=True)
def max_rate(mu, u, shift):
    """max over cells with μ > 0 of |U − s| (0 on an empty grid)."""
    best = 0.0
    for i in prange(mu.size):
        if mu[i] > 0.0:
            best = max(best, abs(u[i] - shift))
    return best


@njit(parallel=True, cache=True)
def exponential_reaction(mu, u, shift, rate_dt):
    """μ ← μ exp(−α Δt (U − s)), the exact step of dμ/dt = −α (U − s) μ.

    ``rate_dt`` is α Δt.  Returns Σ_i μ_i after the update.
    """
    total = 0.0
    for i in prange(mu.size):
        mu[i] = mu[i] * math.exp(-rate_dt * (u[i] - shift))
        total += mu[i]
    return total


@njit(parallel=True, cache=True)
def reinjection_reaction(mu, u, prior, shift, source, alpha, dt):
    """Exact step of dμ/dt = −α (U − s) μ + α q μ_b with U, s, q frozen:

        μ ← μ e^{−λΔt} + α q μ_b (1 − e^{−λΔt}) / λ,   λ = α (U − s)

    (α q μ_b Δt when λ = 0).  Returns Σ_i μ_i after the update.
    """
    total = 0.0
    for i in prange(mu.size):
        lam = alpha * (u[i] - shift)
        decay = math.exp(-lam * dt)
        if abs(lam * dt) > 1e-12:
            gain = (1.0 - decay) / lam
        else:
            gain = dt
        mu[i] = mu[i] * decay + alpha * source * prior[i] * gain
        total += mu[i]
    return total


@njit(parallel=True, cache=True)
def scale(mu, factor):
    """μ ← c μ."""
    for i in prange(mu.size):
        mu[i] *= factor

