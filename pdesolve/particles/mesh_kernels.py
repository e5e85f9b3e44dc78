"""Numba kernels of the particle–mesh method: cloud-in-cell deposit and multilinear
interpolation on a grid seen as three-dimensional (singleton axes appended).

Per axis, with s = (x − lower)/h − ½ the position in units of cells from the first
centre, the stencil is the cell pair (⌊s⌋, ⌊s⌋ + 1) with weights (1 − f, f), f = s − ⌊s⌋.
Periodic axes wrap the indices.  On a bounded axis the pair is kept inside [0, N − 1];
the deposit clamps f to [0, 1] (mass between a wall and the first centre goes to the
boundary cell, so the density stays non-negative), the interpolation does not (it
extrapolates linearly from the two boundary cells).  An axis with one cell is constant.

The particles have as many coordinates as the grid has axes (1, 2 or 3); the axes the
three-dimensional view appends have one cell.  Each kernel reads the grid description
into scalars once and runs a loop written for the particles' dimension, so that the
per-particle work is the stencil arithmetic and the 2^d memory accesses alone.  The
interpolations run in parallel over particles (``prange``); the deposit, whose
particles scatter into shared cells, is serial.
"""
from __future__ import annotations

import math

from numba import njit, prange


@njit(cache=True, inline="always")
def _stencil(x, lower, spacing, cells, periodic, clamp):
    """(left index, right index, right weight f) of coordinate x on one axis."""
    if cells == 1:
        return 0, 0, 0.0
    s = (x - lower) / spacing - 0.5
    left = math.floor(s)
    f = s - left
    if periodic:
        if left < 0 or left >= cells:
            left %= cells
        right = left + 1
        if right == cells:
            right = 0
        return left, right, f
    if left < 0:
        left = 0
    elif left > cells - 2:
        left = cells - 2
    f = s - left
    if clamp:
        f = min(max(f, 0.0), 1.0)
    return left, left + 1, f


@njit(cache=True, inline="always")
def _lerp(f, a, b):
    """(1 − f) a + f b."""
    return (1 - f) * a + f * b


@njit(cache=True, inline="always")
def _bilinear(fx, fy, f00, f10, f01, f11):
    """(1 − fy)((1 − fx) f00 + fx f10) + fy((1 − fx) f01 + fx f11)."""
    return _lerp(fy, _lerp(fx, f00, f10), _lerp(fx, f01, f11))


@njit(cache=True, inline="always")
def _trilinear(fx, fy, fz, f000, f100, f010, f110, f001, f101, f011, f111):
    """(1 − fz) bilinear(z₀ face) + fz bilinear(z₁ face)."""
    return _lerp(fz, _bilinear(fx, fy, f000, f100, f010, f110),
                 _bilinear(fx, fy, f001, f101, f011, f111))


@njit(cache=True)
def cic_deposit(positions, weights, lower, spacing, cells, periodic, out):
    """out_c = Σ_p w_p W_c(θ_p): cloud-in-cell weights (tensor product of the axis stencils),

    W_c(θ) = Π_a w_a(θ_a) with w_a = 1 − f_a on the left cell, f_a on the right one.
    ``lower, spacing, cells, periodic`` have three entries; ``out`` is the 3-D grid array.
    Divide by the cell volume for a density.
    """
    out[...] = 0.0
    n, ndim = positions.shape
    lx, hx, nx, px = lower[0], spacing[0], cells[0], periodic[0]
    ly, hy, ny, py = lower[1], spacing[1], cells[1], periodic[1]
    lz, hz, nz, pz = lower[2], spacing[2], cells[2], periodic[2]
    if ndim == 1:
        for p in range(n):
            x0, x1, fx = _stencil(positions[p, 0], lx, hx, nx, px, True)
            w = weights[p]
            out[x0, 0, 0] += w * (1 - fx)
            out[x1, 0, 0] += w * fx
    elif ndim == 2:
        for p in range(n):
            x0, x1, fx = _stencil(positions[p, 0], lx, hx, nx, px, True)
            y0, y1, fy = _stencil(positions[p, 1], ly, hy, ny, py, True)
            w = weights[p]
            out[x0, y0, 0] += w * (1 - fx) * (1 - fy)
            out[x1, y0, 0] += w * fx * (1 - fy)
            out[x0, y1, 0] += w * (1 - fx) * fy
            out[x1, y1, 0] += w * fx * fy
    else:
        for p in range(n):
            x0, x1, fx = _stencil(positions[p, 0], lx, hx, nx, px, True)
            y0, y1, fy = _stencil(positions[p, 1], ly, hy, ny, py, True)
            z0, z1, fz = _stencil(positions[p, 2], lz, hz, nz, pz, True)
            w = weights[p]
            out[x0, y0, z0] += w * (1 - fx) * (1 - fy) * (1 - fz)
            out[x1, y0, z0] += w * fx * (1 - fy) * (1 - fz)
            out[x0, y1, z0] += w * (1 - fx) * fy * (1 - fz)
            out[x1, y1, z0] += w * fx * fy * (1 - fz)
            out[x0, y0, z1] += w * (1 - fx) * (1 - fy) * fz
            out[x1, y0, z1] += w * fx * (1 - fy) * fz
            out[x0, y1, z1] += w * (1 - fx) * fy * fz
            out[x1, y1, z1] += w * fx * fy * fz


@njit(parallel=True, cache=True)
def cic_interpolate(field, positions, lower, spacing, cells, periodic, out):
    """out_p = Σ_c W_c(θ_p) field_c: multilinear interpolation of a 3-D grid field."""
    n, ndim = positions.shape
    lx, hx, nx, px = lower[0], spacing[0], cells[0], periodic[0]
    ly, hy, ny, py = lower[1], spacing[1], cells[1], periodic[1]
    lz, hz, nz, pz = lower[2], spacing[2], cells[2], periodic[2]
    if ndim == 1:
        for p in prange(n):
            x0, x1, fx = _stencil(positions[p, 0], lx, hx, nx, px, False)
            out[p] = _lerp(fx, field[x0, 0, 0], field[x1, 0, 0])
    elif ndim == 2:
        for p in prange(n):
            x0, x1, fx = _stencil(positions[p, 0], lx, hx, nx, px, False)
            y0, y1, fy = _stencil(positions[p, 1], ly, hy, ny, py, False)
            out[p] = _bilinear(fx, fy, field[x0, y0, 0], field[x1, y0, 0],
                               field[x0, y1, 0], field[x1, y1, 0])
    else:
        for p in prange(n):
            x0, x1, fx = _stencil(positions[p, 0], lx, hx, nx, px, False)
            y0, y1, fy = _stencil(positions[p, 1], ly, hy, ny, py, False)
            z0, z1, fz = _stencil(positions[p, 2], lz, hz, nz, pz, False)
            out[p] = _trilinear(fx, fy, fz, field[x0, y0, z0], field[x1, y0, z0],
                                field[x0, y1, z0], field[x1, y1, z0], field[x0, y0, z1],
                                field[x1, y0, z1], field[x0, y1, z1], field[x1, y1, z1])


@njit(parallel=True, cache=True)
def cic_interpolate_gradient(fields, positions, lower, spacing, cells, periodic, values, gradient):
    """values_p = Σ_c W_c(θ_p) fields_c,0 and gradient_pa = Σ_c W_c(θ_p) fields_c,1+a:

    one multilinear interpolation of 1 + d grid fields stored side by side (``fields`` has
    shape (N_x, N_y, N_z, 1 + d): a potential and its d derivative fields), the weights
    W_c computed once per particle.  Each component equals ``cic_interpolate`` of it.
    """
    n, ndim = positions.shape
    lx, hx, nx, px = lower[0], spacing[0], cells[0], periodic[0]
    ly, hy, ny, py = lower[1], spacing[1], cells[1], periodic[1]
    lz, hz, nz, pz = lower[2], spacing[2], cells[2], periodic[2]
    if ndim == 1:
        for p in prange(n):
            x0, x1, fx = _stencil(positions[p, 0], lx, hx, nx, px, False)
            values[p] = _lerp(fx, fields[x0, 0, 0, 0], fields[x1, 0, 0, 0])
            gradient[p, 0] = _lerp(fx, fields[x0, 0, 0, 1], fields[x1, 0, 0, 1])
    elif ndim == 2:
        for p in prange(n):
            x0, x1, fx = _stencil(positions[p, 0], lx, hx, nx, px, False)
            y0, y1, fy = _stencil(positions[p, 1], ly, hy, ny, py, False)
            values[p] = _bilinear(fx, fy, fields[x0, y0, 0, 0], fields[x1, y0, 0, 0],
                                  fields[x0, y1, 0, 0], fields[x1, y1, 0, 0])
            for a in range(2):
                k = 1 + a
                gradient[p, a] = _bilinear(fx, fy, fields[x0, y0, 0, k], fields[x1, y0, 0, k],
                                           fields[x0, y1, 0, k], fields[x1, y1, 0, k])
    else:
        for p in prange(n):
            x0, x1, fx = _stencil(positions[p, 0], lx, hx, nx, px, False)
            y0, y1, fy = _stencil(positions[p, 1], ly, hy, ny, py, False)
            z0, z1, fz = _stencil(positions[p, 2], lz, hz, nz, pz, False)
            values[p] = _trilinear(fx, fy, fz, fields[x0, y0, z0, 0], fields[x1, y0, z0, 0],
                                   fields[x0, y1, z0, 0], fields[x1, y1, z0, 0],
                                   fields[x0, y0, z1, 0], fields[x1, y0, z1, 0],
                                   fields[x0, y1, z1, 0], fields[x1, y1, z1, 0])
            for a in range(3):
                k = 1 + a
                gradient[p, a] = _trilinear(fx, fy, fz, fields[x0, y0, z0, k],
                                            fields[x1, y0, z0, k], fields[x0, y1, z0, k],
                                            fields[x1, y1, z0, k], fields[x0, y0, z1, k],
                                            fields[x1, y0, z1, k], fields[x0, y1, z1, k],
                                            fields[x1, y1, z1, k])
