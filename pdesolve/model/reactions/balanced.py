"""Balanced birth–death R = (U − Ū) μ, Ū = ∫U dμ / ∫dμ (seed (13)): mass is conserved."""
from __future__ import annotations

from . import Reaction, register


def rate_parameters(backend, mu, u, cell_volume: float) -> tuple[float, float]:
    """s = Ū = Σ U μ / Σ μ, q = 0."""
    mass, first = backend.moment_sums(mu, u)
    return backend.ratio(first, mass), 0.0


def particle_step(system, dt: float) -> None:
    """Kill with rate α(V_i − V̄)⁺, duplicate with rate α(V_i − V̄)⁻, restore n (Algorithm 1);
    weighted: w_i ← w_i e^{−α(V_i − V̄_w)Δt}, rescaled to the previous mass."""
    from ...particles.birth_death import population_offspring, resample, reweight
    if system.weighted:
        reweight(system.weights, system.values, system.alpha, dt, True)
        return
    resample(system, population_offspring(system, dt, True))


def jax_particle_step(key, positions, weights, values, alpha, dt, weighted, sample_prior):
    """The same rule on JAX arrays."""
    from ...particles.jax.birth_death import resample, reweight
    if weighted:
        return positions, reweight(weights, values, alpha, dt, True), True
    positions, alive = resample(key, positions, values, alpha, dt, True)
    return positions, weights, alive


BALANCED = register(Reaction(
    name="balanced", doc="α (U − Ū) μ, Ū = ∫U dμ / ∫dμ (seed (13))",
    conserves_mass=True, uses_prior=False, constant_shift=False, centred_rates=True,
    rate_parameters=rate_parameters, particle_step=particle_step,
    jax_particle_step=jax_particle_step))
