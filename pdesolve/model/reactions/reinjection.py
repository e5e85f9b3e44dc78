"""Reinjection from a prior μ_b (mass 1): every loss is refilled, so mass is conserved.

* ``reinjection``: R = U μ − ⟨U⁺⟩ μ_b + ⟨U⁻⟩ μ/M, the mean-field limit of refilling every
  kill from μ_b and paying every clone with a random kill (README.md, "Reinjection");
* ``reinjection_deficit``: R = U μ − max(V̄_m, 0) μ_b − min(V̄_m, 0) μ/M (DESIGN §1), the limit
  of refilling only the net deficit when many events happen per step;

with ⟨U^±⟩ = ∫ max(±U, 0) dμ, V̄_m = ∫U dμ = ⟨U⁺⟩ − ⟨U⁻⟩ and M = ∫dμ.
"""
from __future__ import annotations

import numpy as np

from . import Reaction, register


def event_rate_parameters(backend, mu, u, cell_volume: float) -> tuple[float, float]:
    """s = −⟨U⁻⟩/M, q = ⟨U⁺⟩."""
    mass, positive, negative = backend.signed_moment_sums(mu, u)
    return backend.ratio(-negative, mass), positive * cell_volume


def deficit_rate_parameters(backend, mu, u, cell_volume: float) -> tuple[float, float]:
    """s = min(V̄_m, 0)/M, q = max(V̄_m, 0)."""
    mass, first = backend.moment_sums(mu, u)
    v_bar_m = first * cell_volume
    return (backend.ratio(backend.minimum(v_bar_m, 0.0), mass * cell_volume),
            backend.maximum(v_bar_m, 0.0))


def _refill(name: str):
    """The particle rule: kill/duplicate with rates αV_i^±, then refill from μ_b with the
    ``particles.birth_death`` function ``name``."""
    def particle_step(system, dt: float) -> None:
        from ...particles import birth_death
        counts = birth_death.population_offspring(system, dt, False)
        system.positions = np.ascontiguousarray(getattr(birth_death, name)(
            system.positions, counts, system.n, system.rng, system.sample_prior))
    particle_step.__doc__ = f"Kill/duplicate with rates αV_i^±, then {name} from μ_b."
    return particle_step


def _jax_refill(name: str):
    """The same rule on JAX arrays, with ``particles.jax.birth_death`` function ``name``."""
    def jax_particle_step(key, positions, weights, values, alpha, dt, weighted, sample_prior):
        import jax

        from ...particles.jax import birth_death
        count_key, refill_key = jax.random.split(key)
        counts = birth_death.offspring_counts(count_key, values, alpha, dt)
        positions, alive = getattr(birth_death, name)(refill_key, positions, counts, sample_prior)
        return positions, weights, alive
    jax_particle_step.__doc__ = f"Kill/duplicate with rates αV_i^±, then {name} from μ_b (JAX)."
    return jax_particle_step


REINJECTION = register(Reaction(
    name="reinjection", doc=("α U μ − α ⟨U⁺⟩ μ_b + α ⟨U⁻⟩ μ / M, ⟨U^±⟩ = ∫max(±U, 0) dμ, M = ∫dμ: every kill refilled "
        "from μ_b, every clone paid by a random kill (the limit of the particle algorithm of the "
        "same name; README.md, \"Reinjection\")"),
    conserves_mass=True, uses_prior=True, constant_shift=False, centred_rates=False,
    rate_parameters=event_rate_parameters, particle_step=_refill("reinject_events"),
    jax_particle_step=_jax_refill("reinject_events")))
REINJECTION_DEFICIT = register(Reaction(
    name="reinjection_deficit",
    doc=("α U μ − α max(V̄_m, 0) μ_b − α min(V̄_m, 0) μ / M, V̄_m = ∫U dμ (DESIGN §1: only the net "
        "deficit refilled; the limit of the particle algorithm of the same name when many events "
        "happen per step)"),
    conserves_mass=True, uses_prior=True, constant_shift=False, centred_rates=False,
    rate_parameters=deficit_rate_parameters, particle_step=_refill("reinject_deficit"),
    jax_particle_step=_jax_refill("reinject_deficit")))
