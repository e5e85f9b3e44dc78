"""Sensitivities of a run's final energy by reverse-mode differentiation through its steps.

Because the JAX step is a pure function of (μ, Δt, α, the kernel transform), ``jax.grad``
through ``steps`` steps of a fixed Δt gives, in one backward sweep,

    E(α, s) = E[μ_T],   ∂E/∂α,   ∂E/∂s,

with α a constant birth–death rate and s a factor on the interaction kernel (K → s K; s = 1
is the case's kernel; on a problem without K, ∂E/∂s = 0; with reaction ``none``, ∂E/∂α = 0),
E[μ] = Σ_i (F_i + ½ (K⋆μ)_i + τ log μ_i) μ_i |cell| the energy of
:func:`pdesolve.fv.diagnostics.energy` (for neuron-form cases E + ½‖f‖² is the network loss,
with the same derivatives).  The derivative is that of the discrete scheme (limiters
included, which are piecewise smooth), not of the PDE; each step is rematerialised in the
backward sweep (``jax.checkpoint``), so memory holds one μ per step, not every intermediate.
The fixed Δt is checked against the stability bound at t = 0, as the Solver's first step is.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ....model.problem import FINITE_N_COUNT, Problem, Scheme
from ...solver import SSP_STAGES, step_size
from .. import make_backend
from . import step as jstep


def energy(plan: jstep.StepPlan, arrays, mu):
    """E[μ] = Σ_i (F_i + ½ (K⋆μ)_i + τ log μ_i) μ_i |cell| (μ log μ = 0 where μ = 0)."""
    interaction = jstep.potential(plan, arrays, mu) - arrays["f"]
    density = (arrays["f"] + 0.5 * interaction) * mu
    if plan.layout.tau > 0:
        positive = mu > 0
        density = density + plan.layout.tau * jnp.where(
            positive, mu * jnp.log(jnp.where(positive, mu, 1.0)), 0.0)
    return jnp.sum(density) * plan.cell_volume


def _final_energy(plan, arrays, mu0, dt, steps, alpha, strength, conserved_mass, floor):
    if plan.form is not None:
        arrays = dict(arrays, kernel_hat=arrays["kernel_hat"] * strength)
    alphas = jnp.full(4, alpha)

    @jax.checkpoint
    def advance(mu, _):
        return jstep.step(plan, arrays, mu, None, dt, alphas, conserved_mass, floor), None
    mu, _ = jax.lax.scan(advance, mu0, None, length=steps)
    return energy(plan, arrays, mu)


_STATIC = ("plan", "steps")
_compiled_energy = jax.jit(_final_energy, static_argnames=_STATIC)
_energy_and_gradient = jax.jit(jax.value_and_grad(_final_energy, argnums=(5, 6)),
                               static_argnames=_STATIC)


class Sensitivity:
    """E[μ_T] after ``steps`` steps of ``scheme.dt`` from ``mu0`` for ``problem`` (its α is
    replaced by the constant given to each call; its kernel scaled by ``strength``)."""

    def __init__(self, problem: Problem, scheme: Scheme, mu0, steps: int):
        if scheme.dt is None:
            raise ValueError("a sensitivity needs a fixed time step (scheme.dt)")
        if steps < 1:
            raise ValueError(f"steps must be at least 1, got {steps}")
        grid = problem.grid
        mu0 = np.asarray(mu0, dtype=np.float64)
        if mu0.shape != grid.shape or not np.all(np.isfinite(mu0)) or np.any(mu0 < 0):
            raise ValueError(f"initial density must be finite, non-negative and of the grid's "
                             f"shape {grid.shape}")
        self._scheme = scheme
        self._transport = problem.transport
        backend = make_backend("jax", grid, scheme.order, scheme.theta, problem.tau, scheme.diffusion)
        floored = problem.finite_n is not None
        self._plan, self._arrays = backend.step_plan(
            problem, scheme, SSP_STAGES[scheme.integrator], floored)
        # α is varied here, also through 0 and where the case has α = 0
        self._plan = self._plan._replace(has_reaction=problem.reaction != "none",
                                         identity_at_zero_alpha=False)
        mass = float(np.sum(mu0))
        self._mu0 = backend.put(mu0)
        # the parts of ν/Δt at t = 0, which do not depend on α: computed once
        self._bound_parts = tuple(float(x) for x in jstep.rate_bound_parts(
            self._plan, self._arrays, self._mu0, jstep.potential(self._plan, self._arrays, self._mu0)))
        self._fixed = dict(dt=float(scheme.dt), steps=int(steps), conserved_mass=mass,
                           floor=FINITE_N_COUNT * mass / problem.finite_n if floored else 0.0)

    def _check_stable(self, alpha: float) -> None:
        """StabilityError if the fixed Δt makes ν > 1 at t = 0 (as the Solver's first step would;
        later states are not checked)."""
        transport, reaction = self._bound_parts
        step_size(self._scheme, (transport if self._transport else 0.0) + abs(alpha) * reaction, 0.0)

    def energy(self, alpha: float, strength: float = 1.0) -> float:
        """E[μ_T] at α = ``alpha`` and kernel factor ``strength``."""
        self._check_stable(alpha)
        fixed = self._fixed
        return float(_compiled_energy(self._plan, self._arrays, self._mu0, fixed["dt"], fixed["steps"],
                                   alpha, strength, fixed["conserved_mass"], fixed["floor"]))

    def gradient(self, alpha: float, strength: float = 1.0) -> tuple[float, float, float]:
        """(E[μ_T], ∂E/∂α, ∂E/∂s) by one forward and one backward sweep."""
        self._check_stable(alpha)
        fixed = self._fixed
        value, (d_alpha, d_strength) = _energy_and_gradient(
            self._plan, self._arrays, self._mu0, fixed["dt"], fixed["steps"], alpha, strength,
            fixed["conserved_mass"], fixed["floor"])
        return float(value), float(d_alpha), float(d_strength)
