"""The interaction part of V at particles, V_int(θ_i) = Σ_j w_j K(θ_i, θ_j), and its gradient.

Two evaluators of one interface ``evaluate(positions, weights, values, gradient)``:

* :class:`DirectInteraction` — exact pair sums (Numba, O(n²)), for the Gaussian and
  quadratic translation-invariant kernels and the neuron form K = c c' k(z − z');
* :class:`MeshInteraction` — particle–mesh on the case grid: cloud-in-cell deposit
  ρ = Σ_j w_j W(· − θ_j)/|c|, the grid's FFT interaction K ⋆ ρ, its gradient by centred
  differences (second-order one-sided at walls), multilinear interpolation back (V and
  the d derivative fields in one pass over the particles).
  Its error against the direct sum is O(h²) for kernels smooth on the scale h.
"""
from __future__ import annotations

import numpy as np

from ..model.grid import Grid, centred_derivative
from ..model.interaction import (ConvolutionInteraction, GaussianKernel, NeuronInteraction,
                           NoInteraction, NormalDensityKernel, QuadraticKernel)
from .mesh_kernels import cic_deposit, cic_interpolate_gradient
from .pair_kernels import (GAUSSIAN, NORMAL_DENSITY, QUADRATIC, neuron_pair_sums,
                           translation_pair_sums)


def _kernel_code(kernel) -> tuple[int, float, float]:
    """(code, p0, p1) of a kernel the pair-sum kernels know."""
    if isinstance(kernel, GaussianKernel):
        return GAUSSIAN, float(kernel.width), float(kernel.strength)
    if isinstance(kernel, QuadraticKernel):
        return QUADRATIC, float(kernel.strength), 0.0
    if isinstance(kernel, NormalDensityKernel):
        return NORMAL_DENSITY, float(kernel.variance), 0.0
    raise TypeError(f"no direct pair sum for {type(kernel).__name__}")


def supports_direct(interaction) -> bool:
    """Whether :class:`DirectInteraction` can evaluate this grid interaction's kernel."""
    try:
        _kernel_code(interaction.kernel)
    except TypeError:
        return False
    return isinstance(interaction, (ConvolutionInteraction, NeuronInteraction))


class DirectInteraction:
    """V_int,i = Σ_j w_j K(θ_i, θ_j) by explicit pair sums (minimum image on periodic axes)."""

    def __init__(self, interaction: ConvolutionInteraction | NeuronInteraction):
        self.code, self.p0, self.p1 = _kernel_code(interaction.kernel)
        self.neuron = isinstance(interaction, NeuronInteraction)
        grid = interaction.grid
        self.period = np.array([u - l if p else 0.0
                                for l, u, p in zip(grid.lower, grid.upper, grid.periodic)])

    def evaluate(self, positions: np.ndarray, weights: np.ndarray, values: np.ndarray,
                 gradient: np.ndarray) -> None:
        """Write V_int (n,) into ``values`` and ∇V_int (n, d) into ``gradient``."""
        sums = neuron_pair_sums if self.neuron else translation_pair_sums
        sums(positions, weights, self.code, self.p0, self.p1, self.period, values, gradient)


class MeshInteraction:
    """Particle–mesh V_int on the grid of ``interaction`` (any grid interaction)."""

    def __init__(self, interaction: ConvolutionInteraction | NeuronInteraction):
        grid: Grid = interaction.grid
        if min(grid.cells) < 2:
            raise ValueError("the particle-mesh interaction needs at least 2 cells per axis")
        self.grid = grid
        self.interaction = interaction
        pad = 3 - grid.ndim
        self._lower = np.array(grid.lower + (0.0,) * pad)
        self._spacing = np.array(grid.spacing + (1.0,) * pad)
        self._cells = np.array(grid.cells + (1,) * pad, dtype=np.int64)
        self._periodic = np.array(grid.periodic + (False,) * pad)
        self._density = np.zeros(grid.shape)
        self._potential = np.zeros(grid.shape)
        # V and ∂_a V side by side (last axis) on the grid seen as 3-D, so that one cache
        # line holds the 1 + d values the interpolation reads at a grid point
        self._fields = np.zeros(grid.cells + (1,) * pad + (1 + grid.ndim,))
        self._grid_fields = self._fields.reshape(grid.shape + (1 + grid.ndim,))

    def deposit(self, positions: np.ndarray, weights: np.ndarray, out: np.ndarray) -> None:
        """Cloud-in-cell density ρ_c = Σ_j w_j W_c(θ_j) / |c| into ``out`` (grid shape)."""
        cic_deposit(positions, weights, self._lower, self._spacing, self._cells,
                    self._periodic, self.grid.as3d(out))
        out /= self.grid.cell_volume

    def evaluate(self, positions: np.ndarray, weights: np.ndarray, values: np.ndarray,
                 gradient: np.ndarray) -> None:
        """Write V_int (n,) into ``values`` and ∇V_int (n, d) into ``gradient``."""
        self.deposit(positions, weights, self._density)
        self.interaction.potential(self._density, self._potential)
        self._grid_fields[..., 0] = self._potential
        for a in range(self.grid.ndim):
            self._grid_fields[..., 1 + a] = centred_derivative(self.grid, self._potential, a)
        cic_interpolate_gradient(self._fields, positions, self._lower, self._spacing, self._cells,
                                 self._periodic, values, gradient)


def particle_interaction(interaction, method: str, n: int, direct_limit: int = 4096):
    """The evaluator for a grid interaction: None for K = 0; ``method`` direct, mesh, or
    auto (direct when the kernel allows it and n ≤ ``direct_limit``, else mesh)."""
    if interaction is None or isinstance(interaction, NoInteraction):
        return None
    if method not in ("auto", "direct", "mesh"):
        raise ValueError(f"interaction method must be auto, direct or mesh, got {method!r}")
    if method == "direct" or (method == "auto" and supports_direct(interaction)
                              and n <= direct_limit):
        return DirectInteraction(interaction)
    return MeshInteraction(interaction)
