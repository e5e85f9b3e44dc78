"""Unbalanced birth–death R = U μ (seed (12)): mass changes."""
from __future__ import annotations

from . import Reaction, register


def rate_parameters(backend, mu, u, cell_volume: float) -> tuple[float, float]:
    """s = q = 0."""
    return 0.0, 0.0


def particle_step(system, dt: float) -> None:
    """Kill/duplicate with rates αV_i^±, restore n and carry the expected population change
    in the weights; weighted: w_i ← w_i e^{−αV_iΔt}."""
    from ...particles.birth_death import (expected_population_fraction, population_offspring,
                                          resample, reweight)
    alpha = system.alpha
    if system.weighted:
        reweight(system.weights, system.values, alpha, dt, False)
        return
    counts = population_offspring(system, dt, False)
    system.weights *= expected_population_fraction(system.values, alpha, dt)
    resample(system, counts)


def jax_particle_step(key, positions, weights, values, alpha, dt, weighted, sample_prior):
    """The same rule on JAX arrays."""
    from ...particles.jax.birth_death import expected_population_fraction, resample, reweight
    if weighted:
        return positions, reweight(weights, values, alpha, dt, False), True
    grown = weights * expected_population_fraction(values, alpha, dt)
    positions, alive = resample(key, positions, values, alpha, dt, False)
    return positions, grown, alive


UNBALANCED = register(Reaction(
    name="unbalanced", doc="α U μ (seed (12)); the mass changes as dM/dt = −α ∫U dμ",
    conserves_mass=False, uses_prior=False, constant_shift=True, centred_rates=False,
    rate_parameters=rate_parameters, particle_step=particle_step,
    jax_particle_step=jax_particle_step))
