"""K ⋆ μ on the grid by JAX's FFT, from the kernel transform the grid interaction computed.

The host interaction (:mod:`pdesolve.model.interaction`) builds k̂ |c| once on its padded
lattice (circular on periodic axes, zero-padded to a fast length ≥ 2N − 1 on bounded axes);
here the same product is taken on the device:

    K ⋆ μ = irfftn(rfftn(μ, s = padded) · k̂ |c|)[corner]                (translation invariant)
    K ⋆ μ = c · (k ⋆ m₁)(z),  m₁(z) = Σ_c c μ(z, c) h_c                 (neuron form)
"""
from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from ....model.interaction import NeuronInteraction


class SpectralForm(NamedTuple):
    """The static part of an interaction: padded FFT shape, cells of the convolved grid, and
    whether it is the neuron form (then the convolution runs over the z axes)."""

    padded_shape: tuple[int, ...]
    cells: tuple[int, ...]
    neuron: bool


def spectral_parts(interaction) -> tuple[SpectralForm, dict[str, np.ndarray]]:
    """(static form, host arrays) of a grid interaction with a ``kernel_transform``: the
    arrays are k̂ |c| and, for the neuron form, the moment weights c h_c and the weights c."""
    if not hasattr(interaction, "kernel_transform"):
        raise ValueError("the jax backend convolves K ⋆ μ from a kernel transform: it needs a "
                         "ConvolutionInteraction or a NeuronInteraction (or a bare kernel), got "
                         f"{type(interaction).__name__}")
    neuron = isinstance(interaction, NeuronInteraction)
    grid = interaction.z_grid if neuron else interaction.grid
    arrays = {"kernel_hat": np.asarray(interaction.kernel_transform)}
    if neuron:
        arrays["moment_weights"] = interaction.moment_weights
        arrays["weights"] = np.asarray(interaction.weights, dtype=np.float64)
    return SpectralForm(tuple(interaction.padded_shape), tuple(grid.cells), neuron), arrays


def convolve(values, kernel_hat, form: SpectralForm):
    """(k ⋆ values)_i = Σ_j k(x_i − x_j) values_j |c| by one real FFT pair."""
    axes = tuple(range(-len(form.padded_shape), 0))
    spectrum = jnp.fft.rfftn(values, s=form.padded_shape, axes=axes)
    result = jnp.fft.irfftn(spectrum * kernel_hat, s=form.padded_shape, axes=axes)
    return result[(...,) + tuple(slice(0, n) for n in form.cells)]


def interaction_potential(mu, arrays, form: SpectralForm):
    """K ⋆ μ on the grid (translation invariant, or the neuron form c · (k ⋆ m₁)(z))."""
    if not form.neuron:
        return convolve(mu, arrays["kernel_hat"], form)
    moment = mu @ arrays["moment_weights"]
    return convolve(moment, arrays["kernel_hat"], form)[..., None] * arrays["weights"]
