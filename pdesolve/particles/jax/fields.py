"""V(θ_i) = F(θ_i) + Σ_j w_j K(θ_i, θ_j) and ∇V at particles, as jax.numpy functions of the
positions (n, d) and weights (n,) — the same formulas as :mod:`pdesolve.particles.potential`,
:mod:`~pdesolve.particles.pair_kernels` and :mod:`~pdesolve.particles.mesh_kernels`.

* F: a ``traceable`` potential's own formula on JAX arrays; any other (an expression, an
  array or a Python function) on the host through ``jax.pure_callback``;
* direct pair sums, k = A exp(−β|d|²) or (p0/2)|d|² with the minimum image on periodic
  axes, in row blocks of at most PAIR_BLOCK_ENTRIES pairs;
* particle–mesh: the cloud-in-cell deposit as one scatter-add, K ⋆ ρ by the grid backend's
  FFT, centred differences (second-order one-sided at walls) and the multilinear
  interpolation of V and its d derivatives, in the axis order of the Numba kernels.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ...fv.backends.jax.interaction import interaction_potential, spectral_parts
from ..interaction import DirectInteraction, MeshInteraction
from ..pair_kernels import QUADRATIC, _radial_constants

PAIR_BLOCK_ENTRIES = 1 << 22    # rows × n pairs held at once by the direct sums

Fields = Callable[[jax.Array, jax.Array], tuple[jax.Array, jax.Array, jax.Array]]


def potential_function(potential) -> Callable[[jax.Array], tuple[jax.Array, jax.Array]]:
    """positions (n, d) → (F_i, ∇F_i (n, d)) for a :class:`~pdesolve.model.potentials.Potential`."""
    ndim = potential.ndim
    if potential.traceable:
        def evaluate(positions):
            shape = positions.shape[:1]
            value, gradient = potential.pointwise([positions[:, a] for a in range(ndim)])
            return (jnp.broadcast_to(value, shape),
                    jnp.stack([jnp.broadcast_to(g, shape) for g in gradient], axis=1))
        return evaluate

    def host(positions):
        coords = np.asarray(positions).T
        return potential(*coords), np.stack(potential.gradient(*coords), axis=1)

    def evaluate(positions):
        n = positions.shape[0]
        shapes = (jax.ShapeDtypeStruct((n,), jnp.float64),
                  jax.ShapeDtypeStruct((n, ndim), jnp.float64))
        return jax.pure_callback(host, shapes, positions)
    return evaluate


def pair_sums(evaluator: DirectInteraction, ndim: int):
    """(positions, weights) → (V_int, ∇V_int) by direct pair sums, the j = i term included:
    V_i = Σ_j u_j k(z_i − z_j), u_j = w_j (translation invariant) or w_j c_j (neuron form,
    then V_i = c_i Σ_j u_j k, ∇_z V_i = c_i Σ_j u_j ∇k, ∂_c V_i = Σ_j u_j k)."""
    count = ndim - 1 if evaluator.neuron else ndim
    amplitude, beta = _radial_constants.py_func(evaluator.code, evaluator.p0, evaluator.p1, count)
    exponential = evaluator.code != QUADRATIC
    periods = [float(p) for p in evaluator.period[:count]]

    def sums(positions, weights):
        n = positions.shape[0]
        z = positions[:, :count]
        u = weights * positions[:, -1] if evaluator.neuron else weights

        def row(point):
            d = point[None, :] - z
            d = jnp.stack([d[:, a] - L * jnp.rint(d[:, a] * (1.0 / L)) if L > 0 else d[:, a]
                           for a, L in enumerate(periods)], axis=1)
            r2 = jnp.sum(d * d, axis=1)
            if exponential:
                k = amplitude * jnp.exp(-beta * r2)
                g = -2.0 * beta * k
            else:
                k = amplitude * r2
                g = jnp.full_like(r2, 2.0 * amplitude)
            return jnp.sum(u * k), jnp.sum((u * g)[:, None] * d, axis=0)

        reduced, gradient = jax.lax.map(row, z, batch_size=max(1, min(n, PAIR_BLOCK_ENTRIES // n)))
        if not evaluator.neuron:
            return reduced, gradient
        c = positions[:, -1]
        return c * reduced, jnp.concatenate((c[:, None] * gradient, reduced[:, None]), axis=1)
    return sums


class MeshLayout(NamedTuple):
    """Per axis: lower face, spacing, cells, periodic; and the cell volume."""

    lower: tuple[float, ...]
    spacing: tuple[float, ...]
    cells: tuple[int, ...]
    periodic: tuple[bool, ...]
    cell_volume: float


def _stencil(x, lower, spacing, cells, periodic, clamp):
    """(left index, right index, right weight f) per particle on one axis (mesh_kernels rule)."""
    if cells == 1:
        zero = jnp.zeros(x.shape, dtype=jnp.int64)
        return zero, zero, jnp.zeros(x.shape)
    s = (x - lower) / spacing - 0.5
    left = jnp.floor(s)
    if periodic:
        f = s - left
        left = left.astype(jnp.int64) % cells
        return left, jnp.where(left + 1 == cells, 0, left + 1), f
    left = jnp.clip(left, 0, cells - 2)
    f = s - left
    if clamp:
        f = jnp.clip(f, 0.0, 1.0)
    left = left.astype(jnp.int64)
    return left, left + 1, f


def _stencils(layout: MeshLayout, positions, clamp: bool):
    return [_stencil(positions[:, a], layout.lower[a], layout.spacing[a], layout.cells[a],
                     layout.periodic[a], clamp) for a in range(len(layout.cells))]


def cic_deposit(layout: MeshLayout, positions, weights):
    """ρ_c = Σ_p w_p W_c(θ_p) / |c| on the grid, W_c = Π_a (1 − f_a or f_a): one scatter-add."""
    stencils = _stencils(layout, positions, True)
    flat, contribution = [], []
    for corner in range(2 ** len(layout.cells)):
        index = []
        share = weights
        for a, (left, right, f) in enumerate(stencils):
            upper = (corner >> a) & 1
            index.append(right if upper else left)
            share = share * (f if upper else 1 - f)
        flat.append(jnp.ravel_multi_index(tuple(index), layout.cells, mode="wrap"))
        contribution.append(share)
    density = jnp.zeros(int(np.prod(layout.cells))).at[jnp.concatenate(flat)].add(
        jnp.concatenate(contribution))
    return density.reshape(layout.cells) / layout.cell_volume


def centred_derivative(layout: MeshLayout, field, axis: int):
    """(f_{i+1} − f_{i−1})/(2h), wrapping on a periodic axis; at the ends of a bounded one
    (−3f₀ + 4f₁ − f₂)/(2h) and (f_{N−3} − 4f_{N−2} + 3f_{N−1})/(2h), as numpy.gradient's
    edge_order=2 writes them."""
    h = layout.spacing[axis]
    if layout.periodic[axis]:
        return (jnp.roll(field, -1, axis) - jnp.roll(field, 1, axis)) / (2.0 * h)
    f = jnp.moveaxis(field, axis, 0)
    inner = (f[2:] - f[:-2]) / (2.0 * h)
    first = (-1.5 / h) * f[0] + (2.0 / h) * f[1] + (-0.5 / h) * f[2]
    last = (0.5 / h) * f[-3] + (-2.0 / h) * f[-2] + (1.5 / h) * f[-1]
    return jnp.moveaxis(jnp.concatenate((first[None], inner, last[None])), 0, axis)


def cic_interpolate(layout: MeshLayout, table, positions):
    """Σ_c W_c(θ_p) table_c for a table (N_cells, channels): lerps along x, then y, then z
    (the order of the Numba kernels), no clamping (linear extrapolation at walls)."""
    stencils = _stencils(layout, positions, False)

    def blend(axis: int, chosen: tuple):
        if axis < 0:
            return table[jnp.ravel_multi_index(chosen, layout.cells, mode="wrap")]
        left, right, f = stencils[axis]
        lo = blend(axis - 1, (left,) + chosen)
        hi = blend(axis - 1, (right,) + chosen)
        return (1 - f)[:, None] * lo + f[:, None] * hi
    return blend(len(stencils) - 1, ())


def mesh_sums(evaluator: MeshInteraction):
    """(positions, weights) → (V_int, ∇V_int) by particle–mesh on the evaluator's grid."""
    grid = evaluator.grid
    layout = MeshLayout(tuple(grid.lower), tuple(grid.spacing), tuple(grid.cells),
                        tuple(grid.periodic), float(grid.cell_volume))
    form, host_arrays = spectral_parts(evaluator.interaction)
    arrays = {name: jnp.asarray(value) for name, value in host_arrays.items()}

    def sums(positions, weights):
        potential = interaction_potential(cic_deposit(layout, positions, weights), arrays, form)
        fields = jnp.stack([potential] + [centred_derivative(layout, potential, a)
                                          for a in range(grid.ndim)], axis=-1)
        values = cic_interpolate(layout, fields.reshape(-1, 1 + grid.ndim), positions)
        return values[:, 0], values[:, 1:]
    return sums


def fields_function(potential, interaction) -> Fields:
    """(positions, weights) → (V_i, ∇V_i, V_int,i) for a host potential and a particle
    interaction evaluator (:func:`pdesolve.particles.interaction.particle_interaction`)."""
    external = potential_function(potential)
    if interaction is None:
        def fields(positions, weights):
            values, gradient = external(positions)
            return values, gradient, jnp.zeros_like(values)
        return fields
    pairs = (pair_sums(interaction, potential.ndim) if isinstance(interaction, DirectInteraction)
             else mesh_sums(interaction))

    def fields(positions, weights):
        values, gradient = external(positions)
        inner, inner_gradient = pairs(positions, weights)
        return values + inner, gradient + inner_gradient, inner
    return fields
