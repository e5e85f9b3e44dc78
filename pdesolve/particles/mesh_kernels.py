"""Numba kernels of the particle–mesh method: cloud-in-cell deposit and multilinear
interpolation on a grid seen as three-dimensional (singleton axes appended).

Per axis, with s = (x − lower)/h − ½ the position in units of cells from the first
centre, the stencil is the cell pair (⌊s⌋, ⌊s⌋ + 1) with weights (1 − f, f), f = s − ⌊s⌋.
Periodic axes wrap the indices.  On a bounded axis the pair is kept inside [0, N − 1];
the deposit clamps f to [0, 1] (mass between a wall and the first centre goes to the
boundary cell, so the density stays non-negative), the interpolation does not (it
extrapolates linearly from the two boundary cells).  An axis with one cell is constant.
"""
from __future__ import annotations

import math

from numba import njit


@njit(cache=True)
def _stencil(x, lower, spacing, cells, periodic, clamp):
    """(left index, right index, right weight f) of coordinate x on one axis."""
    if cells == 1:
        return 0, 0, 0.0
    s = (x - lower) / spacing - 0.5
    left = math.floor(s)
    f = s - left
    if periodic:
        left = left % cells
        return left, (left + 1) % cells, f
    if left < 0:
        left = 0
    elif left > cells - 2:
        left = cells - 2
    f = s - left
    if clamp:
        f = min(max(f, 0.0), 1.0)
    return left, left + 1, f


@njit(cache=True)
def _coordinate(positions, p, a, lower):
    """θ_pa, or the axis' lower bound for an appended singleton axis."""
    return positions[p, a] if a < positions.shape[1] else lower[a]


@njit(cache=True)
def cic_deposit(positions, weights, lower, spacing, cells, periodic, out):
    """out_c = Σ_p w_p W_c(θ_p): cloud-in-cell weights (tensor product of the axis stencils).

    ``lower, spacing, cells, periodic`` have three entries; ``out`` is the 3-D grid array.
    Divide by the cell volume for a density.
    """
    out[...] = 0.0
    for p in range(positions.shape[0]):
        x0, x1, fx = _stencil(_coordinate(positions, p, 0, lower), lower[0], spacing[0],
                              cells[0], periodic[0], True)
        y0, y1, fy = _stencil(_coordinate(positions, p, 1, lower), lower[1], spacing[1],
                              cells[1], periodic[1], True)
        z0, z1, fz = _stencil(_coordinate(positions, p, 2, lower), lower[2], spacing[2],
                              cells[2], periodic[2], True)
        w = weights[p]
        out[x0, y0, z0] += w * (1 - fx) * (1 - fy) * (1 - fz)
        out[x1, y0, z0] += w * fx * (1 - fy) * (1 - fz)
        out[x0, y1, z0] += w * (1 - fx) * fy * (1 - fz)
        out[x1, y1, z0] += w * fx * fy * (1 - fz)
        out[x0, y0, z1] += w * (1 - fx) * (1 - fy) * fz
        out[x1, y0, z1] += w * fx * (1 - fy) * fz
        out[x0, y1, z1] += w * (1 - fx) * fy * fz
        out[x1, y1, z1] += w * fx * fy * fz


@njit(cache=True)
def cic_interpolate(field, positions, lower, spacing, cells, periodic, out):
    """out_p = Σ_c W_c(θ_p) field_c: multilinear interpolation of a 3-D grid field."""
    for p in range(positions.shape[0]):
        x0, x1, fx = _stencil(_coordinate(positions, p, 0, lower), lower[0], spacing[0],
                              cells[0], periodic[0], False)
        y0, y1, fy = _stencil(_coordinate(positions, p, 1, lower), lower[1], spacing[1],
                              cells[1], periodic[1], False)
        z0, z1, fz = _stencil(_coordinate(positions, p, 2, lower), lower[2], spacing[2],
                              cells[2], periodic[2], False)
        out[p] = ((1 - fz) * ((1 - fy) * ((1 - fx) * field[x0, y0, z0] + fx * field[x1, y0, z0])
                              + fy * ((1 - fx) * field[x0, y1, z0] + fx * field[x1, y1, z0]))
                  + fz * ((1 - fy) * ((1 - fx) * field[x0, y0, z1] + fx * field[x1, y0, z1])
                          + fy * ((1 - fx) * field[x0, y1, z1] + fx * field[x1, y1, z1])))
