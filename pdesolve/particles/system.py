"""A particle system and its time step (seed (24) + Algorithm 1, or weighted particles)."""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..model.grid import Grid
from ..model.reactions import get_reaction
from ..model.schedule import CHECK_SAMPLES, Schedule, as_schedule
from .potential import ParticlePotential
from .transport import apply_boundary, langevin_noise

INTEGRATORS = ("euler", "heun")


@dataclass(frozen=True)
class ParticleDynamics:
    """The case's dynamics as the particles see it (see :class:`pdesolve.model.problem.Problem`);
    ``alpha`` a number or a schedule α(t) (stored as a schedule)."""

    reaction: str = "balanced"
    alpha: Schedule | float = 1.0
    tau: float = 0.0
    transport: bool = True
    integrator: str = "euler"

    def __post_init__(self):
        get_reaction(self.reaction)
        if self.integrator not in INTEGRATORS:
            raise ValueError(f"integrator must be one of {INTEGRATORS}, got {self.integrator!r}")
        if self.tau < 0:
            raise ValueError("tau must be non-negative")
        object.__setattr__(self, "alpha", as_schedule(self.alpha))

    @property
    def has_reaction(self) -> bool:
        return self.reaction != "none" and not self.alpha.is_zero

    def step_rate(self, t: float, dt: float) -> float | None:
        """The birth–death rate of the step [t, t + Δt], α = (1/Δt) ∫ α(s) ds, or None when
        the dynamics has no reaction."""
        return self.alpha.mean(t, dt) if self.has_reaction else None


class ParticleSystem:
    """n particles θ_i (positions (n, d)) with weights w_i, Σ w = M; μⁿ = Σ w_i δ_θi.

    Unweighted (default): w_i = M/n and birth–death acts on the population (Algorithm 1).
    ``weighted``: positions only move and w_i follows ẇ_i = −α (V_i − V̄_w) w_i.
    ``sample_prior(k, rng)`` draws k positions from μ_b (reinjection only).  ``alpha`` is
    the birth–death rate of the step being taken: the mean of α(t) over it.
    """

    def __init__(self, positions: np.ndarray, mass: float, potential: ParticlePotential,
                 grid: Grid, dynamics: ParticleDynamics, rng: np.random.Generator,
                 weighted: bool = False,
                 sample_prior: Callable[[int, np.random.Generator], np.ndarray] | None = None):
        if get_reaction(dynamics.reaction).uses_prior and (weighted or sample_prior is None):
            raise ValueError("reinjection needs unweighted particles and a prior sampler")
        self.positions = np.array(positions, dtype=np.float64, order="C")
        self.n, self.ndim = self.positions.shape
        self.weights = np.full(self.n, mass / self.n)
        self.potential = potential
        self.grid = grid
        self.dynamics = dynamics
        self.rng = rng
        self.weighted = weighted
        self.sample_prior = sample_prior
        self.alpha = dynamics.alpha.value_at(0.0)
        self.values = np.zeros(self.n)
        self.gradient = np.zeros((self.n, self.ndim))
        self._trial_gradient = np.zeros((self.n, self.ndim))

    @property
    def interaction_values(self) -> np.ndarray:
        """V_int(θ_i) of the last :meth:`evaluate`."""
        return self.potential.interaction_values

    def rng_state(self) -> dict:
        """The checkpointable random state: the numpy ``bit_generator.state``."""
        return self.rng.bit_generator.state

    def evaluate(self) -> None:
        """values = V(θ_i), gradient = ∇V(θ_i) at the current state."""
        self.potential.evaluate(self.positions, self.weights, self.values, self.gradient)

    def move(self, dt: float) -> None:
        """Euler θ ← θ − ∇V(θ) Δt, or Heun θ ← θ − ½(∇V(θ) + ∇V(θ*)) Δt with θ* the Euler
        point; then √(2τΔt) ξ noise and the box faces."""
        self.evaluate()
        if self.dynamics.integrator == "heun":
            trial = self.positions - self.gradient * dt
            apply_boundary(trial, self.grid)
            self.potential.evaluate(trial, self.weights, self.values, self._trial_gradient)
            self.positions -= 0.5 * (self.gradient + self._trial_gradient) * dt
        else:
            self.positions -= self.gradient * dt
        langevin_noise(self.positions, self.dynamics.tau, dt, self.rng)
        apply_boundary(self.positions, self.grid)

    def birth_death(self, dt: float) -> None:
        """Birth–death with V at the current positions (Algorithm 1 / weighted update)."""
        self.evaluate()
        get_reaction(self.dynamics.reaction).particle_step(self, dt)

    def step(self, dt: float, t: float = 0.0) -> None:
        """One step over [t, t + Δt]: gradient move (if transport), then birth–death (if a
        reaction, and α is not 0 over the step) at rate α = (1/Δt) ∫ α(s) ds."""
        if self.dynamics.transport:
            self.move(dt)
        rate = self.dynamics.step_rate(t, dt)
        if rate is not None:
            self.alpha = rate
            if rate > 0.0:
                self.birth_death(dt)


def default_time_step(system: ParticleSystem, cfl: float, t_end: float = math.inf) -> float:
    """Δt = cfl · min(min_a h_a / max_i |∇V_i|, 1 / (α max_i |Ṽ_i|)) at the start, α the peak
    of α(t) over [0, t_end] (an expression's: the largest of its values at the 4097 times
    where the case check evaluated it): a particle moves at most cfl cells and birth–death
    probabilities stay ≤ 1 − e^(−cfl) per step."""
    system.evaluate()
    speed = float(np.max(np.linalg.norm(system.gradient, axis=1))) if system.dynamics.transport else 0.0
    limits = [min(system.grid.spacing) / speed] if speed > 0 else []
    if system.dynamics.has_reaction:
        rates = system.values - system.values.mean() \
            if get_reaction(system.dynamics.reaction).centred_rates else system.values
        top = system.dynamics.alpha.peak(0.0, t_end, CHECK_SAMPLES) * float(np.max(np.abs(rates)))
        if top > 0:
            limits.append(1.0 / top)
    return cfl * min(limits) if limits else math.inf
