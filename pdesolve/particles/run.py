"""Run the particle method on a case: independent replicates, observables at output times."""
from __future__ import annotations

import math

import numpy as np

from ..build import build_setup
from ..case import Case
from .interaction import particle_interaction
from .observables import energy, histogram, moments
from .potential import ParticlePotential
from .sampling import sample_density_spec
from .system import ParticleDynamics, ParticleSystem


def default_time_step(system: ParticleSystem, cfl: float) -> float:
    """Δt = cfl · min(min_a h_a / max_i |∇V_i|, 1 / (α max_i |Ṽ_i|)) at the start: a particle
    moves at most cfl cells and birth–death probabilities stay ≤ 1 − e^(−cfl) per step."""
    system.evaluate()
    speed = float(np.max(np.linalg.norm(system.gradient, axis=1))) if system.dynamics.transport else 0.0
    limits = [min(system.grid.spacing) / speed] if speed > 0 else []
    if system.dynamics.has_reaction:
        rates = system.values - system.values.mean() if system.dynamics.reaction == "balanced" \
            else system.values
        top = system.dynamics.alpha * float(np.max(np.abs(rates)))
        if top > 0:
            limits.append(1.0 / top)
    return cfl * min(limits) if limits else math.inf


def run_particles(case: Case, n: int | None = None, seed: int | None = None,
                  times=None, *, dt: float | None = None, replicates: int | None = None,
                  weighted: bool = False, method: str | None = None) -> dict:
    """Particle runs of ``case`` (same F, K, α, τ, grid and μ₀ as the grid solver).

    ``n``, ``seed``, ``replicates`` and the interaction ``method`` default to the case's
    [particles] table; ``times`` to the grid run's output times; ``dt`` to time.dt, else
    :func:`default_time_step` (each output interval is cut into equal steps ≤ dt).
    Replicate r uses the r-th child of ``SeedSequence(seed)``.  Returns

    * ``times`` (T,), ``n``, ``dt`` (the largest step used);
    * ``mass`` (R, T), ``mean`` (R, T, d), ``covariance`` (R, T, d, d), ``energy`` (R, T)
      (E = ∫F dμⁿ + ½∫∫K dμⁿdμⁿ, V-statistic, no entropy term);
    * ``histogram`` (T, *grid.shape): particle density on the grid cells, averaged over
      the replicates (same units as the grid μ).
    """
    setup = build_setup(case)
    grid = setup.grid
    spec = case.section("particles")
    dyn_spec = case.section("dynamics")
    n = int(spec["n"] if n is None else n)
    seed = int(spec["seed"] if seed is None else seed)
    replicates = int(spec["replicates"] if replicates is None else replicates)
    times = setup.output_times if times is None else np.asarray(times, dtype=float)
    if times.ndim != 1 or times.size == 0 or times[0] < 0 or np.any(np.diff(times) <= 0):
        raise ValueError("times must be a non-empty, non-negative, increasing sequence")
    dynamics = ParticleDynamics(reaction=dyn_spec["reaction"], alpha=dyn_spec["alpha"],
                                tau=dyn_spec["tau"], transport=dyn_spec["transport"],
                                integrator=spec["integrator"])
    interaction = particle_interaction(setup.problem.interaction,
                                       spec["interaction"] if method is None else method, n)
    initial = case.section("initial")
    prior_spec = dyn_spec["prior"]

    def sample_prior(k: int, rng: np.random.Generator) -> np.ndarray:
        return sample_density_spec(prior_spec, grid, k, rng)

    d, T = grid.ndim, times.size
    result = {"times": times, "n": n, "mass": np.zeros((replicates, T)),
              "mean": np.zeros((replicates, T, d)), "covariance": np.zeros((replicates, T, d, d)),
              "energy": np.zeros((replicates, T)), "histogram": np.zeros((T,) + grid.shape)}
    largest_step = 0.0
    for r, child in enumerate(np.random.SeedSequence(seed).spawn(replicates)):
        rng = np.random.default_rng(child)
        system = ParticleSystem(sample_density_spec(initial, grid, n, rng),
                                float(initial.get("mass", 1.0)),
                                ParticlePotential(setup.potential, interaction, n), grid,
                                dynamics, rng, weighted=weighted,
                                sample_prior=sample_prior if prior_spec else None)
        step = dt if dt is not None else case.section("time")["dt"]
        if step is None:
            step = default_time_step(system, case.section("time")["cfl"])
        now = 0.0
        for k, t in enumerate(times):
            if t > now:
                steps = max(1, math.ceil((t - now) / step * (1 - 1e-12)))
                for _ in range(steps):
                    system.step((t - now) / steps)
                largest_step = max(largest_step, (t - now) / steps)
                now = t
            system.evaluate()
            mass, mean, cov = moments(system.positions, system.weights)
            result["mass"][r, k] = mass
            result["mean"][r, k] = mean
            result["covariance"][r, k] = cov
            f_values = system.values - system.potential.interaction_values
            result["energy"][r, k] = energy(system.weights, f_values,
                                            system.potential.interaction_values)
            result["histogram"][k] += histogram(system.positions, system.weights, grid) / replicates
    result["dt"] = largest_step
    return result
