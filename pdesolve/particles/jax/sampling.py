"""Draws from the prior μ_b inside the jitted step (reinjection), as
:func:`pdesolve.particles.sampling.sample_density_spec` defines them: a Gaussian
Π_a N(mean_a, std_a²) cut at the box — exactly, by a truncated normal per axis (the box is a
product, so the cut Gaussian is one) — or any other density from its grid values (a cell with
probability ∝ its density, then uniform in the cell)."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ...model.grid import Grid


def prior_sampler(spec, grid: Grid, density: np.ndarray | None):
    """(key, k) → k positions (k, d) drawn from the density entry ``spec`` (``density``: its
    grid values, for a non-Gaussian kind)."""
    lower, upper = np.array(grid.lower), np.array(grid.upper)
    if spec["kind"] == "gaussian":
        mean = np.broadcast_to(np.asarray(spec["mean"], dtype=float), (grid.ndim,))
        std = np.broadcast_to(np.asarray(spec["std"], dtype=float), (grid.ndim,))
        low, high = jnp.asarray((lower - mean) / std), jnp.asarray((upper - mean) / std)

        def sample(key, k: int):
            z = jax.random.truncated_normal(key, low, high, (k, grid.ndim))
            return jnp.clip(mean + std * z, lower, jnp.nextafter(upper, lower))
        return sample
    log_p = jnp.log(jnp.asarray(density.ravel() / density.sum()))
    corner = jnp.asarray(lower)
    spacing = jnp.asarray(grid.spacing)

    def sample(key, k: int):
        cell_key, offset_key = jax.random.split(key)
        cells = jnp.stack(jnp.unravel_index(jax.random.categorical(cell_key, log_p, shape=(k,)),
                                            grid.shape), axis=1)
        return corner + (cells + jax.random.uniform(offset_key, (k, grid.ndim))) * spacing
    return sample
