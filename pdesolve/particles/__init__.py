"""Particle (Monte Carlo) solver of the same dynamics as the grid PDE (DESIGN §4).

μⁿ = Σ_i w_i δ_θi; particles move by the gradient step of seed (24) and undergo the
birth–death of seed Algorithm 1 (or carry weights), with V = F + K ⋆ μⁿ evaluated by
direct pair sums or particle–mesh.  Numba kernels live in ``pair_kernels``,
``mesh_kernels`` and ``gillespie``; the rest is orchestration.
"""
from .birth_death import (birth_death_rates, expected_population_fraction, offspring_counts,
                          reinject_deficit, reinject_events, restore_population, reweight)
from .gillespie import gillespie_birth_death
from .interaction import DirectInteraction, MeshInteraction, particle_interaction, supports_direct
from .observables import energy, histogram, moments
from .potential import ParticlePotential
from .sampling import sample_density_spec, sample_gaussian_in_box, sample_grid_density
from .system import ParticleDynamics, ParticleSystem, default_time_step
from .transport import apply_boundary, langevin_noise

__all__ = [
    "DirectInteraction", "MeshInteraction", "ParticleDynamics", "ParticlePotential",
    "ParticleSystem", "apply_boundary", "birth_death_rates", "default_time_step", "energy",
    "expected_population_fraction", "gillespie_birth_death", "histogram", "langevin_noise",
    "moments", "offspring_counts", "particle_interaction", "reinject_deficit", "reinject_events",
    "restore_population",
    "reweight", "sample_density_spec", "sample_gaussian_in_box",
    "sample_grid_density", "supports_direct",
]
