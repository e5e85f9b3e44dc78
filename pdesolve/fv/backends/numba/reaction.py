"""Numba kernels for the reaction (birth–death) part  ∂t μ = −α (U − s) μ + α q μ_b.

All arrays are flat float64 views of the grid.  U is frozen over a sub-step, which
makes every update below the exact solution of a linear ODE per cell.

The update kernels work in blocks of BLOCK cells: a block's update loop has no
loop-carried dependence (so the compiler vectorises it, exponential included), and the
block's sum uses four partial sums, so that its additions do not wait on each other.

Every sum is the same number whatever the number of threads: each block's sum goes into
its slot of a ``partials`` array the caller owns, and the slots are added in order after
the parallel loop (a ``prange`` reduction would add per-thread subtotals, whose split
depends on the thread count).  The moment sums take their block length from the caller:
the whole grid on one thread (one block, the plain sum in cell order), BLOCK otherwise.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from .. import LOG_FLOOR

BLOCK = 4096

# exp(x) = 2^k e^r with k = round(x / ln 2), r = x − k ln 2 (ln 2 split in a part with
# trailing zero bits and a correction, so that k · LN2_HIGH is exact), |r| ≤ ln 2 / 2,
# and e^r by its Taylor polynomial of degree 13 (remainder < 5e-18).
LOG2_E = 1.4426950408889634
LN2_HIGH = 6.93147180369123816490e-01
LN2_LOW = 1.90821492927058770002e-10
EXP_ARGUMENT_MIN = -746.0  # exp underflows to 0 below
EXP_ARGUMENT_MAX = 710.0   # and overflows to inf above
EXPONENT_BIAS = 1023
MANTISSA_BITS = 52


@njit(inline="always")
def power_of_two(k):
    """2^k for an integer −1022 ≤ k ≤ 1023, built from its IEEE-754 bits."""
    return np.int64((k + EXPONENT_BIAS) << MANTISSA_BITS).view(np.float64)


@njit(inline="always")
def vectorisable_exp(x):
    """e^x to within 1 ulp of math.exp (inf above 710, 0 below −746, NaN for NaN),
    without a library call, so that loops calling it vectorise."""
    if x < EXP_ARGUMENT_MIN:
        x = EXP_ARGUMENT_MIN
    if x > EXP_ARGUMENT_MAX:
        x = EXP_ARGUMENT_MAX
    k = math.floor(x * LOG2_E + 0.5)
    if k != k:  # x is NaN: keep k an integer, r and the result are NaN
        k = 0.0
    r = (x - k * LN2_HIGH) - k * LN2_LOW
    p = 1.0 / 6227020800.0
    p = p * r + 1.0 / 479001600.0
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    # 2^k as 2^⌊k/2⌋ 2^(k − ⌊k/2⌋): both factors stay normal for −1076 ≤ k ≤ 1025.
    half = np.int64(k) >> 1
    return p * power_of_two(half) * power_of_two(np.int64(k) - half)


@njit(inline="always")
def block_sum(x, first, stop):
    """Σ x[first:stop], accumulated in four interleaved partial sums."""
    part = x[first:stop]
    count = stop - first
    whole = count - count % 4
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    s3 = 0.0
    for i in range(0, whole, 4):
        s0 += part[i]
        s1 += part[i + 1]
        s2 += part[i + 2]
        s3 += part[i + 3]
    for i in range(whole, count):
        s0 += part[i]
    return (s0 + s1) + (s2 + s3)


@njit(parallel=True, cache=True)
def total_potential(v, mu, tau, out):
    """out = U = V + τ (log μ + 1), with μ floored at 1e-300 inside the log when τ > 0."""
    for i in prange(v.size):
        if tau > 0.0:
            out[i] = v[i] + tau * (math.log(max(mu[i], LOG_FLOOR)) + 1.0)
        else:
            out[i] = v[i]


@njit(inline="always")
def ordered_total(partials, blocks, column):
    """Σ_b partials[b, column] for b = 0, 1, …, blocks − 1, in that order."""
    total = 0.0
    for b in range(blocks):
        total += partials[b, column]
    return total


@njit(parallel=True, cache=True)
def moment_sums(mu, u, block, partials):
    """(Σ_i μ_i, Σ_i U_i μ_i), in blocks of ``block`` cells (``partials``: ≥ 2 columns)."""
    blocks = (mu.size + block - 1) // block
    for b in prange(blocks):
        mass_b = 0.0
        first_b = 0.0
        for i in range(b * block, min((b + 1) * block, mu.size)):
            mass_b += mu[i]
            first_b += u[i] * mu[i]
        partials[b, 0] = mass_b
        partials[b, 1] = first_b
    return ordered_total(partials, blocks, 0), ordered_total(partials, blocks, 1)


@njit(parallel=True, cache=True)
def signed_moment_sums(mu, u, block, partials):
    """(Σ_i μ_i, Σ_i max(U_i, 0) μ_i, Σ_i max(−U_i, 0) μ_i), in blocks of ``block`` cells."""
    blocks = (mu.size + block - 1) // block
    for b in prange(blocks):
        mass_b = 0.0
        positive_b = 0.0
        negative_b = 0.0
        for i in range(b * block, min((b + 1) * block, mu.size)):
            mass_b += mu[i]
            positive_b += max(u[i], 0.0) * mu[i]
            negative_b += max(-u[i], 0.0) * mu[i]
        partials[b, 0] = mass_b
        partials[b, 1] = positive_b
        partials[b, 2] = negative_b
    return (ordered_total(partials, blocks, 0), ordered_total(partials, blocks, 1),
            ordered_total(partials, blocks, 2))


@njit(parallel=True, cache=True)
def max_rate(mu, u, shift):
    """max over cells with μ > 0 of |U − s| (0 on an empty grid)."""
    best = 0.0
    for i in prange(mu.size):
        if mu[i] > 0.0:
            best = max(best, abs(u[i] - shift))
    return best


@njit(parallel=True, cache=True)
def exponential_reaction(mu, u, shift, rate_dt, partials):
    """μ ← μ exp(−α Δt (U − s)), the exact step of dμ/dt = −α (U − s) μ.

    ``rate_dt`` is α Δt.  Returns Σ_i μ_i after the update.
    """
    blocks = (mu.size + BLOCK - 1) // BLOCK
    for block in prange(blocks):
        start = block * BLOCK
        stop = min(start + BLOCK, mu.size)
        m = mu[start:stop]
        w = u[start:stop]
        for i in range(stop - start):
            m[i] = m[i] * vectorisable_exp(-rate_dt * (w[i] - shift))
        partials[block, 0] = block_sum(mu, start, stop)
    return ordered_total(partials, blocks, 0)


@njit(parallel=True, cache=True)
def exponential_factors(u, shift, rate_dt, out):
    """out = exp(−α Δt (U − s)), the factor by which the exact step of
    dμ/dt = −α (U − s) μ multiplies each cell (``rate_dt`` is α Δt)."""
    for block in prange((u.size + BLOCK - 1) // BLOCK):
        start = block * BLOCK
        stop = min(start + BLOCK, u.size)
        w = u[start:stop]
        factor = out[start:stop]
        for i in range(stop - start):
            factor[i] = vectorisable_exp(-rate_dt * (w[i] - shift))


@njit(parallel=True, cache=True)
def multiply(mu, factors, partials):
    """μ ← μ · factors (cell by cell).  Returns Σ_i μ_i after the update."""
    blocks = (mu.size + BLOCK - 1) // BLOCK
    for block in prange(blocks):
        start = block * BLOCK
        stop = min(start + BLOCK, mu.size)
        m = mu[start:stop]
        factor = factors[start:stop]
        for i in range(stop - start):
            m[i] = m[i] * factor[i]
        partials[block, 0] = block_sum(mu, start, stop)
    return ordered_total(partials, blocks, 0)


@njit(parallel=True, cache=True)
def zero_below(mu, floor, partials):
    """μ_i ← 0 where μ_i < floor.  Returns Σ_i μ_i after the update."""
    blocks = (mu.size + BLOCK - 1) // BLOCK
    for block in prange(blocks):
        start = block * BLOCK
        stop = min(start + BLOCK, mu.size)
        for i in range(start, stop):
            if mu[i] < floor:
                mu[i] = 0.0
        partials[block, 0] = block_sum(mu, start, stop)
    return ordered_total(partials, blocks, 0)


@njit(parallel=True, cache=True)
def reinjection_reaction(mu, u, prior, shift, source, alpha, dt, block, partials):
    """Exact step of dμ/dt = −α (U − s) μ + α q μ_b with U, s, q frozen:

        μ ← μ e^{−λΔt} + α q μ_b (1 − e^{−λΔt}) / λ,   λ = α (U − s)

    (α q μ_b Δt when λ = 0).  Returns Σ_i μ_i after the update, in blocks of ``block``.
    """
    blocks = (mu.size + block - 1) // block
    for b in prange(blocks):
        total_b = 0.0
        for i in range(b * block, min((b + 1) * block, mu.size)):
            lam = alpha * (u[i] - shift)
            decay = math.exp(-lam * dt)
            if abs(lam * dt) > 1e-12:
                gain = (1.0 - decay) / lam
            else:
                gain = dt
            mu[i] = mu[i] * decay + alpha * source * prior[i] * gain
            total_b += mu[i]
        partials[b, 0] = total_b
    return ordered_total(partials, blocks, 0)


@njit(parallel=True, cache=True)
def scale(mu, factor):
    """μ ← c μ."""
    for i in prange(mu.size):
        mu[i] *= factor
