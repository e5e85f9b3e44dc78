"""Numba kernels: direct pair sums of the interaction at particles (O(n²) per call).

For particles θ_j of weight w_j (Σ_j w_j = M, the mass of μⁿ = Σ_j w_j δ_θj) they write

    V_i = Σ_j w_j K(θ_i, θ_j),      G_i = ∇_θi V_i = Σ_j w_j ∇₁K(θ_i, θ_j),

the j = i term included (V-statistic).  K is radial in a displacement d, identified by
an integer code with its parameters passed as floats (p0, p1):

* ``GAUSSIAN``       k = p1 exp(−|d|²/(2 p0²)),       ∇k = −d/p0² k
* ``QUADRATIC``      k = (p0/2) |d|²,                 ∇k = p0 d
* ``NORMAL_DENSITY`` k = (2π p0)^(−m/2) exp(−|d|²/(2 p0)) in m dimensions, ∇k = −d/p0 k

On an axis with ``period[a] > 0`` the displacement is the minimum image d − L round(d/L).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

GAUSSIAN = 0
QUADRATIC = 1
NORMAL_DENSITY = 2


@njit(cache=True)
def _radial(kind: int, p0: float, p1: float, ndim: int, r2: float) -> tuple[float, float]:
    """(k, g) at squared distance r2, with ∇k(d) = g d."""
    if kind == GAUSSIAN:
        value = p1 * math.exp(-r2 / (2.0 * p0 * p0))
        return value, -value / (p0 * p0)
    if kind == QUADRATIC:
        return 0.5 * p0 * r2, p0
    value = (2.0 * math.pi * p0) ** (-0.5 * ndim) * math.exp(-r2 / (2.0 * p0))
    return value, -value / p0


@njit(cache=True)
def _component(positions, i, j, a, period):
    """d_a = θ_ia − θ_ja, minimum image on a periodic axis."""
    d = positions[i, a] - positions[j, a]
    if period[a] > 0.0:
        d -= period[a] * np.round(d / period[a])
    return d


@njit(parallel=True, cache=True)
def translation_pair_sums(positions, weights, kind, p0, p1, period, values, gradient):
    """K(θ, θ') = k(θ − θ'):  values_i = Σ_j w_j k(θ_i − θ_j),  gradient_i = Σ_j w_j ∇k(θ_i − θ_j)."""
    n, ndim = positions.shape
    for i in prange(n):
        v = 0.0
        for a in range(ndim):
            gradient[i, a] = 0.0
        for j in range(n):
            r2 = 0.0
            for a in range(ndim):
                d = _component(positions, i, j, a, period)
                r2 += d * d
            k, g = _radial(kind, p0, p1, ndim, r2)
            v += weights[j] * k
            for a in range(ndim):
                gradient[i, a] += weights[j] * g * _component(positions, i, j, a, period)
        values[i] = v


@njit(parallel=True, cache=True)
def neuron_pair_sums(positions, weights, kind, p0, p1, period, values, gradient):
    """K(θ, θ') = c c' k(z − z'), θ = (z, c) with c the last coordinate:

    values_i = c_i Σ_j w_j c_j k(z_i − z_j),
    ∇_z values_i = c_i Σ_j w_j c_j ∇k(z_i − z_j),   ∂_c values_i = Σ_j w_j c_j k(z_i − z_j).
    """
    n, ndim = positions.shape
    nz = ndim - 1
    for i in prange(n):
        reduced = 0.0
        for a in range(ndim):
            gradient[i, a] = 0.0
        ci = positions[i, nz]
        for j in range(n):
            r2 = 0.0
            for a in range(nz):
                d = _component(positions, i, j, a, period)
                r2 += d * d
            k, g = _radial(kind, p0, p1, nz, r2)
            wc = weights[j] * positions[j, nz]
            reduced += wc * k
            for a in range(nz):
                gradient[i, a] += ci * wc * g * _component(positions, i, j, a, period)
        values[i] = ci * reduced
        gradient[i, nz] = reduced
