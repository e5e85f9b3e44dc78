"""Numba kernels: direct pair sums of the interaction at particles (O(n²) per call).

For particles θ_j of weight w_j (Σ_j w_j = M, the mass of μⁿ = Σ_j w_j δ_θj) they write

    V_i = Σ_j w_j K(θ_i, θ_j),      G_i = ∇_θi V_i = Σ_j w_j ∇₁K(θ_i, θ_j),

the j = i term included (V-statistic).  K is radial in a displacement d, identified by
an integer code with its parameters passed as floats (p0, p1):

* ``GAUSSIAN``       k = p1 exp(−|d|²/(2 p0²)),       ∇k = −d/p0² k
* ``QUADRATIC``      k = (p0/2) |d|²,                 ∇k = p0 d
* ``NORMAL_DENSITY`` k = (2π p0)^(−m/2) exp(−|d|²/(2 p0)) in m dimensions, ∇k = −d/p0 k

On an axis with ``period[a] > 0`` the displacement is the minimum image d − L round(d/L).
Positions have 1 to 3 coordinates (2 or 3 in the neuron form: z has 1 or 2).

The rows i run in parallel (``prange``).  The two exponential kernels share one form
k = A exp(−β |d|²), ∇k = −2β k d, with A and β computed once per call; each row
accumulates V_i and its gradient components in registers, in a j loop compiled for the
number of axes and for whether any axis is periodic, so that a pair costs one exp and a
few flops.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

GAUSSIAN = 0
QUADRATIC = 1
NORMAL_DENSITY = 2


@njit(cache=True)
def _radial_constants(kind: int, p0: float, p1: float, ndim: int) -> tuple[float, float]:
    """(A, β) with k = A exp(−β r²) for the exponential kernels, (p0/2, 0) for QUADRATIC."""
    if kind == GAUSSIAN:
        return p1, 1.0 / (2.0 * p0 * p0)
    if kind == QUADRATIC:
        return 0.5 * p0, 0.0
    return (2.0 * math.pi * p0) ** (-0.5 * ndim), 1.0 / (2.0 * p0)


@njit(cache=True)
def _period(period, a, count):
    """(L, 1/L) of axis a if it is one of the first ``count`` axes and periodic, else (0, 0)."""
    if a < count and period[a] > 0.0:
        return period[a], 1.0 / period[a]
    return 0.0, 0.0


@njit(cache=True)
def _image(period, count):
    """(L_x, L_y, L_z, 1/L_x, 1/L_y, 1/L_z) of the first ``count`` axes with L = 1/L := 0
    on bounded and absent axes, and whether any axis is periodic."""
    lx, ix = _period(period, 0, count)
    ly, iy = _period(period, 1, count)
    lz, iz = _period(period, 2, count)
    return (lx, ly, lz, ix, iy, iz), lx > 0.0 or ly > 0.0 or lz > 0.0


@njit(cache=True, inline="always")
def _radial(exponential: bool, amplitude: float, beta: float,
            r2: float) -> tuple[float, float]:
    """(k, g) at squared distance r2 with ∇k(d) = g d: (A e^{−βr²}, −2β k) or (A r², 2A)."""
    if exponential:
        value = amplitude * math.exp(-beta * r2)
        return value, -2.0 * beta * value
    return amplitude * r2, 2.0 * amplitude


@njit(cache=True)
def _row_sums(positions, weights, point, radial, image, count, wrap, neuron):
    """Σ_j u_j k(d_j) and Σ_j u_j ∇k(d_j) (three components, 0 beyond ``count``) over all j,
    with d_j = point − θ_j in the first ``count`` coordinates and u_j = w_j, or w_j c_j
    (c the last coordinate) when ``neuron``; ``radial`` = (exponential, A, β) as in
    ``_radial``.  With ``wrap`` each component is the minimum image d − L rint(d/L),
    ``image`` = (L_x, L_y, L_z, 1/L_x, 1/L_y, 1/L_z) with L = 1/L := 0 on a bounded axis
    (which leaves d unchanged).

    ``count``, ``wrap`` and ``neuron`` are literals at every call site: Numba compiles one
    version per combination, whose j loop has no branch on them."""
    exponential, amplitude, beta = radial
    lx, ly, lz, ix, iy, iz = image
    xi, yi, zi = point
    last = positions.shape[1] - 1
    v = 0.0
    gx = 0.0
    gy = 0.0
    gz = 0.0
    dy = 0.0
    dz = 0.0
    for j in range(positions.shape[0]):
        dx = xi - positions[j, 0]
        if wrap:
            dx -= lx * np.rint(dx * ix)
        if count > 1:
            dy = yi - positions[j, 1]
            if wrap:
                dy -= ly * np.rint(dy * iy)
        if count > 2:
            dz = zi - positions[j, 2]
            if wrap:
                dz -= lz * np.rint(dz * iz)
        k, g = _radial(exponential, amplitude, beta, dx * dx + dy * dy + dz * dz)
        u = weights[j] * positions[j, last] if neuron else weights[j]
        v += u * k
        ug = u * g
        gx += ug * dx
        gy += ug * dy
        gz += ug * dz
    return v, gx, gy, gz


@njit(cache=True)
def _row(positions, weights, i, radial, image, count, wrap, neuron):
    """``_row_sums`` at θ_i, the run-time ``count`` (1, 2, else 3) and ``wrap`` passed on
    as literals."""
    point = (positions[i, 0], positions[i, 1] if count > 1 else 0.0,
             positions[i, 2] if count > 2 else 0.0)
    if count == 1:
        if wrap:
            return _row_sums(positions, weights, point, radial, image, 1, True, neuron)
        return _row_sums(positions, weights, point, radial, image, 1, False, neuron)
    if count == 2:
        if wrap:
            return _row_sums(positions, weights, point, radial, image, 2, True, neuron)
        return _row_sums(positions, weights, point, radial, image, 2, False, neuron)
    if wrap:
        return _row_sums(positions, weights, point, radial, image, 3, True, neuron)
    return _row_sums(positions, weights, point, radial, image, 3, False, neuron)


@njit(parallel=True, cache=True)
def translation_pair_sums(positions, weights, kind, p0, p1, period, values, gradient):
    """K(θ, θ') = k(θ − θ'):  values_i = Σ_j w_j k(θ_i − θ_j),  gradient_i = Σ_j w_j ∇k(θ_i − θ_j)."""
    n, ndim = positions.shape
    amplitude, beta = _radial_constants(kind, p0, p1, ndim)
    radial = (kind != QUADRATIC, amplitude, beta)
    image, wrap = _image(period, ndim)
    for i in prange(n):
        v, gx, gy, gz = _row(positions, weights, i, radial, image, ndim, wrap, False)
        values[i] = v
        gradient[i, 0] = gx
        if ndim > 1:
            gradient[i, 1] = gy
        if ndim > 2:
            gradient[i, 2] = gz


@njit(parallel=True, cache=True)
def neuron_pair_sums(positions, weights, kind, p0, p1, period, values, gradient):
    """K(θ, θ') = c c' k(z − z'), θ = (z, c) with c the last coordinate:

    values_i = c_i Σ_j w_j c_j k(z_i − z_j),
    ∇_z values_i = c_i Σ_j w_j c_j ∇k(z_i − z_j),   ∂_c values_i = Σ_j w_j c_j k(z_i − z_j).
    """
    n, ndim = positions.shape
    nz = ndim - 1
    amplitude, beta = _radial_constants(kind, p0, p1, nz)
    radial = (kind != QUADRATIC, amplitude, beta)
    image, wrap = _image(period, nz)
    for i in prange(n):
        reduced, gx, gy, gz = _row(positions, weights, i, radial, image, nz, wrap, True)
        ci = positions[i, nz]
        values[i] = ci * reduced
        gradient[i, 0] = ci * gx
        if nz > 1:
            gradient[i, 1] = ci * gy
        if nz > 2:
            gradient[i, 2] = ci * gz
        gradient[i, nz] = reduced
