"""No reaction: pure transport (R = 0)."""
from __future__ import annotations

from . import Reaction, register


def rate_parameters(backend, mu, u, cell_volume: float) -> tuple[float, float]:
    """s = q = 0 (the rate is never applied)."""
    return 0.0, 0.0


def particle_step(system, dt: float) -> None:
    """Nothing happens."""


def jax_particle_step(key, positions, weights, values, alpha, dt, weighted, sample_prior):
    """Nothing happens."""
    return positions, weights, True


NONE = register(Reaction(
    name="none", doc="0 (pure gradient flow)",
    conserves_mass=True, uses_prior=False, constant_shift=True, centred_rates=False,
    rate_parameters=rate_parameters, particle_step=particle_step,
    jax_particle_step=jax_particle_step))
