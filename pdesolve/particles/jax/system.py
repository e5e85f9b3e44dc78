"""A particle system on JAX: the step of :class:`pdesolve.particles.system.ParticleSystem`
(gradient move, Langevin noise, box faces, birth–death) as one jitted function.

State on the device: positions (n, d), weights (n,), a raw PRNG key (uint32[2]); each step
splits the key, so the state after k steps is a function of the seed and k alone, and a
checkpoint of (positions, weights, key) continues bit for bit.  The host sees V, ∇V and the
positions only when it asks (:meth:`JaxParticleSystem.evaluate`, ``positions``), i.e. at
output times.
"""
from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from ...model.grid import Grid
from ...model.reactions import get_reaction
from ..system import ParticleDynamics
from .fields import fields_function
from .sampling import prior_sampler

RNG_NAME = "jax"    # ReplicateCheckpoint.rng_state["bit_generator"] of a JAX replicate


def apply_boundary(positions, grid: Grid):
    """Wrap into [lower, upper) on periodic axes, fold back at the faces of bounded ones
    (x < l → 2l − x, x > u → 2u − x, any excursion), as :func:`pdesolve.particles.apply_boundary`."""
    columns = []
    for a in range(grid.ndim):
        lower, length = grid.lower[a], grid.upper[a] - grid.lower[a]
        x = positions[:, a]
        if grid.periodic[a]:
            columns.append(lower + jnp.mod(x - lower, length))
        else:
            folded = jnp.mod(x - lower, 2.0 * length)
            columns.append(lower + jnp.where(folded > length, 2.0 * length - folded, folded))
    return jnp.stack(columns, axis=1)


def key_from_seed(entropy: np.ndarray) -> list[int]:
    """The raw JAX key (two uint32) of two 32-bit words of a SeedSequence's state."""
    return [int(w) for w in np.asarray(entropy, dtype=np.uint32)[:2]]


class JaxParticleKernels:
    """The jitted V, ∇V evaluation and step of one particle configuration, compiled once
    and shared by the systems built on it (one per replicate segment)."""

    def __init__(self, potential, interaction, grid: Grid, dynamics: ParticleDynamics,
                 weighted: bool = False, prior=None, prior_density: np.ndarray | None = None):
        reaction = get_reaction(dynamics.reaction)
        if reaction.uses_prior and (weighted or prior is None):
            raise ValueError("reinjection needs unweighted particles and a prior")
        sample_prior = None if prior is None else prior_sampler(prior, grid, prior_density)
        self.grid = grid
        self.dynamics = dynamics
        self.weighted = weighted
        fields = fields_function(potential, interaction)
        self.fields = jax.jit(fields)
        self.step = jax.jit(partial(_step, fields, grid, dynamics, reaction.jax_particle_step,
                                    weighted, sample_prior), static_argnames=("react",))


class JaxParticleSystem:
    """n particles with weights on the device; the interface the particle driver uses of
    :class:`~pdesolve.particles.system.ParticleSystem` (``step``, ``evaluate``, ``values``,
    ``gradient``, ``interaction_values``, ``positions``, ``weights``, ``rng_state``)."""

    def __init__(self, kernels: JaxParticleKernels, positions: np.ndarray, weights: np.ndarray,
                 key: list[int]):
        self.kernels = kernels
        self.grid = kernels.grid
        self.dynamics = kernels.dynamics
        self.weighted = kernels.weighted
        self.n, self.ndim = np.shape(positions)
        self.alpha = self.dynamics.alpha.value_at(0.0)
        self._positions = jax.device_put(np.array(positions, dtype=np.float64))
        self._weights = jax.device_put(np.array(weights, dtype=np.float64))
        self._key = jnp.asarray(np.array(key, dtype=np.uint32))
        self._alive = jnp.asarray(True)
        self.values = self.gradient = self.interaction_values = None

    @property
    def positions(self) -> np.ndarray:
        """The positions (n, d) on the host (RuntimeError if birth–death killed every particle)."""
        self._check_alive()
        return np.array(self._positions)

    @property
    def weights(self) -> np.ndarray:
        self._check_alive()
        return np.array(self._weights)

    def _check_alive(self) -> None:
        if not bool(self._alive):
            raise RuntimeError("birth-death killed every particle; reduce alpha * dt")

    def block_until_ready(self) -> None:
        """Wait until the device has finished the steps asked for so far."""
        jax.block_until_ready((self._positions, self._weights, self._alive))

    def rng_state(self) -> dict:
        """The checkpointable random state: {"bit_generator": "jax", "key": [k0, k1]}."""
        return {"bit_generator": RNG_NAME, "key": [int(k) for k in np.asarray(self._key)]}

    def evaluate(self) -> None:
        """values = V(θ_i), gradient = ∇V(θ_i), interaction_values = V_int(θ_i), on the host."""
        values, gradient, inner = self.kernels.fields(self._positions, self._weights)
        self.values, self.gradient, self.interaction_values = (
            np.asarray(values), np.asarray(gradient), np.asarray(inner))

    def step(self, dt: float, t: float = 0.0) -> None:
        """One step over [t, t + Δt] as ParticleSystem.step: move (if transport), then
        birth–death at α = (1/Δt) ∫ α(s) ds (if a reaction and α > 0 over the step)."""
        rate = self.dynamics.step_rate(t, dt)
        if rate is not None:
            self.alpha = rate
        react = rate is not None and rate > 0.0
        self._positions, self._weights, self._key, alive = self.kernels.step(
            self._positions, self._weights, self._key, dt, self.alpha, react=react)
        self._alive = self._alive & alive


def _step(fields, grid, dynamics, rule, weighted, sample_prior, positions, weights, key, dt, alpha,
          *, react):
    """(positions, weights, key, alive) after one step (see JaxParticleSystem.step)."""
    key, noise_key, reaction_key = jax.random.split(key, 3)
    if dynamics.transport:
        _, gradient, _ = fields(positions, weights)
        if dynamics.integrator == "heun":
            trial = apply_boundary(positions - gradient * dt, grid)
            _, trial_gradient, _ = fields(trial, weights)
            positions = positions - 0.5 * (gradient + trial_gradient) * dt
        else:
            positions = positions - gradient * dt
        if dynamics.tau > 0:
            positions = positions + jnp.sqrt(2.0 * dynamics.tau * dt) * jax.random.normal(
                noise_key, positions.shape)
        positions = apply_boundary(positions, grid)
    alive = jnp.asarray(True)
    if react:
        values, _, _ = fields(positions, weights)
        positions, weights, alive = rule(reaction_key, positions, weights, values, alpha, dt,
                                         weighted, sample_prior)
    return positions, weights, key, jnp.asarray(alive)
