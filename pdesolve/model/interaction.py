"""The interaction part K ⋆ μ of the potential V = F + K ⋆ μ on a grid.

Discretisation, on a grid with cell volume |c| and cell centres x_i:

    (K ⋆ μ)_i = Σ_j k(x_i − x_j) μ_j |c|,

where the displacement component along a periodic axis is the minimum image,
wrapped into [−L/2, L/2) with L = upper − lower, and along a bounded (no-flux)
axis the plain difference.  The sum is evaluated by FFT: circular on periodic
axes, linear (zero-padded to a fast length ≥ 2N − 1) on bounded axes.

Two forms of K are supported:

* translation invariant, K(θ, θ') = k(θ − θ')           (ConvolutionInteraction);
* neuron form, θ = (z, c) with c the last axis,
  K(θ, θ') = c c' k(z − z')                              (NeuronInteraction).
"""
from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from scipy import fft

from ..config.schema import POSITIVE, REQUIRED, Key, Kind, expression, kind_of, number
from .grid import AXIS_NAMES, Grid


# ---------------------------------------------------------------------------
# Kernels k(d), d a displacement given as one (broadcastable) array per axis
# ---------------------------------------------------------------------------

class Kernel(Protocol):
    """A translation-invariant kernel k(d) with its gradient ∇k(d)."""

    def __call__(self, *disp: np.ndarray) -> np.ndarray: ...

    def gradient(self, *disp: np.ndarray) -> tuple[np.ndarray, ...]: ...


def _squared_norm(disp: tuple[np.ndarray, ...]) -> np.ndarray:
    """|d|² = Σ_a d_a²."""
    return sum(np.square(d) for d in disp)


@dataclass(frozen=True)
class GaussianKernel:
    """k(d) = strength · exp(−|d|² / (2 width²));  ∇k(d) = −d / width² · k(d)."""

    width: float
    strength: float = 1.0

    def __post_init__(self):
        if not self.width > 0:
            raise ValueError(f"Gaussian kernel width must be positive, got {self.width}")

    def __call__(self, *disp: np.ndarray) -> np.ndarray:
        disp = tuple(np.asarray(d, dtype=float) for d in disp)
        return self.strength * np.exp(-_squared_norm(disp) / (2.0 * self.width ** 2))

    def gradient(self, *disp: np.ndarray) -> tuple[np.ndarray, ...]:
        disp = tuple(np.asarray(d, dtype=float) for d in disp)
        value = self(*disp)
        return tuple(-d / self.width ** 2 * value for d in disp)


@dataclass(frozen=True)
class QuadraticKernel:
    """k(d) = (b/2) |d|² with b = strength;  ∇k(d) = b d."""

    strength: float

    def __call__(self, *disp: np.ndarray) -> np.ndarray:
        disp = tuple(np.asarray(d, dtype=float) for d in disp)
        return 0.5 * self.strength * _squared_norm(disp)

    def gradient(self, *disp: np.ndarray) -> tuple[np.ndarray, ...]:
        return tuple(self.strength * np.asarray(d, dtype=float) for d in disp)


@dataclass(frozen=True)
class NormalDensityKernel:
    """Centred normal density of variance v in n = len(d) dimensions.

    k(d) = (2π v)^(−n/2) exp(−|d|² / (2v));  ∇k(d) = −d / v · k(d).
    """

    variance: float

    def __post_init__(self):
        if not self.variance > 0:
            raise ValueError(f"normal density variance must be positive, got {self.variance}")

    def __call__(self, *disp: np.ndarray) -> np.ndarray:
        disp = tuple(np.asarray(d, dtype=float) for d in disp)
        norm = (2.0 * math.pi * self.variance) ** (-len(disp) / 2.0)
        return norm * np.exp(-_squared_norm(disp) / (2.0 * self.variance))

    def gradient(self, *disp: np.ndarray) -> tuple[np.ndarray, ...]:
        disp = tuple(np.asarray(d, dtype=float) for d in disp)
        value = self(*disp)
        return tuple(-d / self.variance * value for d in disp)


class ExpressionKernel:
    """k(d) given by an expression text in the axis names x, y, z (the displacement).

    k(d) = expr(d_x, d_y, ...);  ∇k(d) is the expression's analytic gradient.
    """

    def __init__(self, text: str, ndim: int):
        from ..config.expression import compile_expression

        self.text = text
        self.ndim = ndim
        self._expression = compile_expression(text, AXIS_NAMES[:ndim])

    def __repr__(self) -> str:
        return f"ExpressionKernel({self.text!r}, ndim={self.ndim})"

    def __call__(self, *disp: np.ndarray) -> np.ndarray:
        return self._expression(*disp)

    def gradient(self, *disp: np.ndarray) -> tuple[np.ndarray, ...]:
        return tuple(self._expression.gradient(*disp))


class CallableKernel:
    """k(d) = fn(d_0, d_1, ...) for a user callable that broadcasts over its arguments.

    ∇k by centred differences: ∂_a k(d) ≈ (k(d + δ_a e_a) − k(d − δ_a e_a)) / (2 δ_a),
    δ_a = ε^(1/3) max(1, |d_a|) with ε the float64 machine epsilon.
    """

    _RELATIVE_STEP = np.finfo(float).eps ** (1.0 / 3.0)

    def __init__(self, fn: Callable[..., np.ndarray]):
        self.fn = fn

    def __repr__(self) -> str:
        return f"CallableKernel({self.fn!r})"

    def __call__(self, *disp: np.ndarray) -> np.ndarray:
        return np.asarray(self.fn(*disp), dtype=float)

    def gradient(self, *disp: np.ndarray) -> tuple[np.ndarray, ...]:
        disp = tuple(np.asarray(d, dtype=float) for d in disp)
        grads = []
        for a, d in enumerate(disp):
            step = self._RELATIVE_STEP * np.maximum(1.0, np.abs(d))
            forward, backward = d + step, d - step
            upper = self(*disp[:a], forward, *disp[a + 1:])
            lower = self(*disp[:a], backward, *disp[a + 1:])
            grads.append((upper - lower) / (forward - backward))
        return tuple(grads)


# ---------------------------------------------------------------------------
# FFT convolution on a grid
# ---------------------------------------------------------------------------

def minimum_image_offsets(offsets: np.ndarray, cells: int) -> np.ndarray:
    """Integer cell offsets m wrapped to the minimum image m' ≡ m (mod N), m' h ∈ [−L/2, L/2).

    m' = ((m + ⌊N/2⌋) mod N) − ⌊N/2⌋.  Working on integers resolves the tie
    |d| = L/2 (even N) exactly to −L/2.
    """
    half = cells // 2
    return np.mod(np.asarray(offsets) + half, cells) - half


def padded_length(cells: int, periodic: bool) -> int:
    """FFT length of an axis: N if periodic (circular), else next_fast_len(2N − 1) (linear)."""
    return cells if periodic else fft.next_fast_len(2 * cells - 1, real=True)


def _lattice_axis(cells: int, spacing: float, periodic: bool, length: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Displacement carried by each FFT index on one axis, and whether it is used.

    Periodic: index m carries the minimum image of m h.  Bounded, padded length P:
    index m < N carries m h, index m > P − N carries (m − P) h, the middle is unused.
    """
    m = np.arange(length)
    if periodic:
        return minimum_image_offsets(m, cells) * spacing, np.ones(length, dtype=bool)
    used = (m < cells) | (m > length - cells)
    offsets = np.where(m < cells, m, m - length)
    return np.where(used, offsets, 0) * spacing, used


class _FFTConvolver:
    """(k ⋆ f)_i = Σ_j k(x_i − x_j) f_j |c| on one grid, by real FFTs.

    The kernel's transform (times |c|) is computed once here; each call copies
    f into the corner of a preallocated zero-padded buffer, transforms, multiplies
    by the kernel transform in place and transforms back.
    """

    def __init__(self, grid: Grid, kernel: Kernel, workers: int):
        self.workers = workers
        self.shape = grid.shape
        self.padded_shape = tuple(padded_length(n, p) for n, p in zip(grid.cells, grid.periodic))
        self._corner = tuple(slice(0, n) for n in grid.cells)
        self._buffer = np.zeros(self.padded_shape)

        displacements, used = [], np.ones((1,) * grid.ndim, dtype=bool)
        for a, (n, h, p, length) in enumerate(
                zip(grid.cells, grid.spacing, grid.periodic, self.padded_shape)):
            disp, used_a = _lattice_axis(n, h, p, length)
            orient = [1] * grid.ndim
            orient[a] = length
            displacements.append(disp.reshape(orient))
            used = used & used_a.reshape(orient)
        values = np.broadcast_to(kernel(*displacements), self.padded_shape)
        lattice = np.where(used, values, 0.0)
        self._kernel_hat = fft.rfftn(lattice, workers=workers) * grid.cell_volume

    @property
    def kernel_transform(self) -> np.ndarray:
        """k̂ |c|: the real-FFT transform of the kernel on the padded lattice, times the cell
        volume (read-only view), so that k ⋆ f = irfftn(rfftn(f padded) · k̂ |c|) on the grid."""
        view = self._kernel_hat.view()
        view.flags.writeable = False
        return view

    def convolve(self, values: np.ndarray, out: np.ndarray) -> None:
        """Write (k ⋆ values)_i into ``out`` (both of the grid's shape)."""
        self._buffer[self._corner] = values
        spectrum = fft.rfftn(self._buffer, workers=self.workers)
        np.multiply(spectrum, self._kernel_hat, out=spectrum)
        result = fft.irfftn(spectrum, s=self.padded_shape, workers=self.workers,
                            overwrite_x=True)
        out[...] = result[self._corner]


def _default_workers(workers: int | None) -> int:
    return workers if workers is not None else (os.cpu_count() or 1)


def _check_shape(grid: Grid, mu: np.ndarray) -> None:
    if mu.shape != grid.shape:
        raise ValueError(f"density has shape {mu.shape}, grid has shape {grid.shape}")


# ---------------------------------------------------------------------------
# Grid interactions
# ---------------------------------------------------------------------------

class NoInteraction:
    """K = 0: the interaction part of V vanishes."""

    kernel = None

    def __init__(self, grid: Grid):
        self.grid = grid

    def potential(self, mu: np.ndarray, out: np.ndarray) -> None:
        """out_i = 0."""
        _check_shape(self.grid, mu)
        out[...] = 0.0


class ConvolutionInteraction:
    """Translation-invariant K(θ, θ') = k(θ − θ'):  out_i = Σ_j k(x_i − x_j) μ_j |c|."""

    def __init__(self, grid: Grid, kernel: Kernel, workers: int | None = None):
        self.grid = grid
        self.kernel = kernel
        self._convolver = _FFTConvolver(grid, kernel, _default_workers(workers))

    @property
    def padded_shape(self) -> tuple[int, ...]:
        """FFT shape: N on periodic axes, next_fast_len(2N − 1) on bounded axes."""
        return self._convolver.padded_shape

    @property
    def kernel_transform(self) -> np.ndarray:
        """k̂ |c| on the padded lattice (the convolver's ``kernel_transform``)."""
        return self._convolver.kernel_transform

    def potential(self, mu: np.ndarray, out: np.ndarray) -> None:
        """out_i = (k ⋆ μ)_i = Σ_j k(x_i − x_j) μ_j |c|."""
        _check_shape(self.grid, mu)
        self._convolver.convolve(mu, out)


class NeuronInteraction:
    """Neuron form on θ = (z, c), c the last axis:  K(θ, θ') = c c' k(z − z').

    V_int(z_i, c) = c · Û(z_i),  Û(z_i) = (k ⋆ m₁)(z_i) = Σ_j k(z_i − z_j) m₁(z_j) |c_z|,
    m₁(z_j) = Σ_c c μ(z_j, c) h_c,  with |c_z| the product of the z-axis spacings.
    """

    def __init__(self, grid: Grid, kernel_z: Kernel, workers: int | None = None):
        if grid.ndim < 2:
            raise ValueError("the neuron form needs at least two axes: position z and weight c")
        self.grid = grid
        self.kernel = kernel_z
        self.z_grid = Grid(grid.lower[:-1], grid.upper[:-1], grid.cells[:-1], grid.periodic[:-1])
        self.weights = grid.axes[-1]
        self._moment_weights = self.weights * grid.spacing[-1]
        self._moment = np.zeros(self.z_grid.shape)
        self._reduced = np.zeros(self.z_grid.shape)
        self._convolver = _FFTConvolver(self.z_grid, kernel_z, _default_workers(workers))

    @property
    def padded_shape(self) -> tuple[int, ...]:
        """FFT shape of the z axes: N if periodic, next_fast_len(2N − 1) if bounded."""
        return self._convolver.padded_shape

    @property
    def kernel_transform(self) -> np.ndarray:
        """k̂ |c_z| on the padded z lattice (the convolver's ``kernel_transform``)."""
        return self._convolver.kernel_transform

    @property
    def moment_weights(self) -> np.ndarray:
        """c h_c along the weight axis, so that m₁ = μ · moment_weights (a copy)."""
        return self._moment_weights.copy()

    def _convolve_moment(self, mu: np.ndarray) -> None:
        _check_shape(self.grid, mu)
        np.matmul(mu, self._moment_weights, out=self._moment)
        self._convolver.convolve(self._moment, self._reduced)

    def reduced_potential(self, mu: np.ndarray) -> np.ndarray:
        """Û(z) = (k ⋆ m₁)(z), m₁(z) = Σ_c c μ(z, c) h_c; a new array of the z-grid's shape."""
        self._convolve_moment(mu)
        return self._reduced.copy()

    def potential(self, mu: np.ndarray, out: np.ndarray) -> None:
        """out(z, c) = c · (k ⋆ m₁)(z)."""
        self._convolve_moment(mu)
        np.multiply(self._reduced[..., np.newaxis], self.weights, out=out)


Interaction = NoInteraction | ConvolutionInteraction | NeuronInteraction

def _convolution(make_kernel):
    return lambda spec, grid, workers: ConvolutionInteraction(grid, make_kernel(spec, grid), workers)


# The [interaction] kinds of a case file: keys, formula, builder ``build(spec, grid, workers)``.
INTERACTIONS: dict[str, Kind] = {
    "none": Kind({}, doc="0", build=lambda spec, grid, workers: NoInteraction(grid)),
    "gaussian": Kind(
        {"width": Key(number(POSITIVE), 1.0, "w"), "strength": Key(number(), 1.0, "s")},
        doc="s exp(−\\|θ − θ'\\|² / (2w²)); s > 0 repulsive, s < 0 attractive",
        build=_convolution(lambda spec, grid: GaussianKernel(float(spec["width"]),
                                                             float(spec["strength"])))),
    "quadratic": Kind(
        {"strength": Key(number(), 1.0, "b")}, doc="(b/2) \\|θ − θ'\\|² (b > 0 attractive)",
        build=_convolution(lambda spec, grid: QuadraticKernel(float(spec["strength"])))),
    "expression": Kind(
        {"expr": Key(expression, REQUIRED)},
        doc="k(θ − θ'): the expression in `x`, `y`, `z` evaluated at the displacement",
        build=_convolution(lambda spec, grid: ExpressionKernel(str(spec["expr"]), grid.ndim))),
    "neuron": Kind(
        {"unit_variance": Key(number(POSITIVE), 0.5, "s²")}, min_dim=2,
        doc="c c' k(z − z'), k = N(·; 0, 2 s² I) = ∫ φ(x, z) φ(x, z') dx",
        build=lambda spec, grid, workers: NeuronInteraction(
            grid, NormalDensityKernel(2.0 * float(spec["unit_variance"])), workers)),
}


def interaction_from_spec(spec: Mapping, grid: Grid, workers: int | None = None) -> Interaction:
    """The interaction an [interaction] table describes (a validated case's, or a dict written
    by hand: missing keys take their case-file defaults); kinds and keys in ``INTERACTIONS``.
    The neuron form's k is the normal density of variance 2 s² over the d − 1 position axes,
    ∫ φ(x − z) φ(x − z') dx for normalised Gaussian units φ of variance s²."""
    entry = kind_of("interaction", INTERACTIONS, spec)
    return entry.build(entry.complete("interaction", spec), grid, workers)


# ---------------------------------------------------------------------------
# Reference sum and energy
# ---------------------------------------------------------------------------

def _pair_displacements(grid: Grid) -> tuple[np.ndarray, ...]:
    """Per axis a, d_a(i, j) = x_i − x_j (minimum image if periodic), broadcastable to
    shape + shape with target index i in the first ndim axes and source j in the last."""
    displacements = []
    for a, (n, h, p, x) in enumerate(zip(grid.cells, grid.spacing, grid.periodic, grid.axes)):
        if p:
            i, j = np.arange(n)[:, None], np.arange(n)[None, :]
            d = minimum_image_offsets(i - j, n) * h
        else:
            d = x[:, None] - x[None, :]
        orient = [1] * (2 * grid.ndim)
        orient[a], orient[grid.ndim + a] = n, n
        displacements.append(d.reshape(orient))
    return tuple(displacements)


def direct_interaction_potential(interaction: Interaction, mu: np.ndarray) -> np.ndarray:
    """O(N²) reference: V_i = Σ_j K(x_i, x_j) μ_j |c| by explicit pair sums.

    K(x_i, x_j) = k(x_i − x_j) for ConvolutionInteraction, c_i c_j k(z_i − z_j)
    for NeuronInteraction, 0 for NoInteraction.  Memory grows like N², so this
    is meant for small grids (tests).
    """
    grid = interaction.grid
    _check_shape(grid, mu)
    if isinstance(interaction, NoInteraction):
        return np.zeros(grid.shape)
    disp = _pair_displacements(grid)
    pair_shape = grid.shape + grid.shape
    if isinstance(interaction, ConvolutionInteraction):
        pair_kernel = np.broadcast_to(interaction.kernel(*disp), pair_shape)
    elif isinstance(interaction, NeuronInteraction):
        d = grid.ndim
        c_orient = [1] * (2 * d)
        c_orient[d - 1] = grid.cells[-1]
        c_target = grid.axes[-1].reshape(c_orient)
        c_source = np.moveaxis(c_target, d - 1, 2 * d - 1)
        k_z = interaction.kernel(*(disp[a] for a in range(d - 1)))
        pair_kernel = np.broadcast_to(c_target * c_source * k_z, pair_shape)
    else:
        raise TypeError(f"no direct sum for {type(interaction).__name__}")
    return np.tensordot(pair_kernel, mu, axes=grid.ndim) * grid.cell_volume


def interaction_energy(grid: Grid, mu: np.ndarray, v_int: np.ndarray) -> float:
    """½ ∫∫ K dμ dμ ≈ ½ Σ_i v_int_i μ_i |c|, with v_int = K ⋆ μ on the grid."""
    return 0.5 * float(np.vdot(v_int, mu)) * grid.cell_volume
