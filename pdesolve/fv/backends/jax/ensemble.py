"""Batched ensembles: B independent runs of one problem advanced by one compiled, vmapped step.

The members share the grid, F, K, the reaction and the scheme; they differ in their initial
density μ₀ᵇ and, optionally, in α (one constant αᵇ per member).  All take the same Δt, the
smallest of their stable steps (each member's ν/Δt as in
:meth:`pdesolve.fv.solver.Solver.stable_dt`), so that member b of the ensemble equals a
single run of the same Δt sequence: the primitive a sweep over replicates or over α uses on a
GPU.  Each member keeps its own conserved mass and finite-n floor.
"""
from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from ....model.problem import FINITE_N_COUNT, Problem, Scheme
from ....model.schedule import as_schedule
from ...solver import SSP_STAGES, advance_to, peak_alpha, step_size
from .. import make_backend
from . import step as jstep


@partial(jax.jit, static_argnames="plan")
def _batched_step(plan, arrays, mu, dt, alphas, conserved_mass, floor):
    member = partial(jstep.step, plan, arrays, v=None, dt=dt)
    return jax.vmap(lambda m, a, c, f: member(mu=m, alphas=a, conserved_mass=c, floor=f))(
        mu, alphas, conserved_mass, floor)


@partial(jax.jit, static_argnames="plan")
def _batched_bound_parts(plan, arrays, mu):
    def member(m):
        return jstep.rate_bound_parts(plan, arrays, m, jstep.potential(plan, arrays, m))
    return jax.vmap(member)(mu)


class Ensemble:
    """``len(mu0s)`` runs of ``problem`` under ``scheme`` (``scheme.backend`` is ignored: the
    ensemble is JAX's); ``alphas``: one constant α per member instead of ``problem.alpha``.
    ``mu`` is the (B, *grid.shape) host array of the current densities, ``t`` the common time."""

    def __init__(self, problem: Problem, scheme: Scheme, mu0s, alphas=None):
        grid = problem.grid
        mu0s = np.asarray(mu0s, dtype=np.float64)
        if mu0s.ndim != grid.ndim + 1 or mu0s.shape[1:] != grid.shape:
            raise ValueError(f"initial densities have shape {mu0s.shape}, expected "
                             f"(members, {', '.join(map(str, grid.shape))})")
        if not np.all(np.isfinite(mu0s)) or np.any(mu0s < 0):
            raise ValueError("initial densities must be finite and non-negative")
        members = mu0s.shape[0]
        self.schedules = ([problem.alpha] * members if alphas is None
                          else [as_schedule(float(a)) for a in np.atleast_1d(alphas)])
        if len(self.schedules) != members:
            raise ValueError(f"{len(self.schedules)} values of alpha for {members} members")
        if alphas is not None and problem.reaction == "none":
            raise ValueError("alpha varies across the members, but the reaction is none")
        self.problem = problem
        self.scheme = scheme
        self.t = 0.0
        self.steps = 0
        self._target = np.inf
        backend = make_backend("jax", grid, scheme.order, scheme.theta, problem.tau, scheme.diffusion)
        masses = mu0s.reshape(members, -1).sum(axis=1)
        self._conserved_mass = backend.put(masses)
        self._floor = backend.put(
            masses * (0.0 if problem.finite_n is None else FINITE_N_COUNT / problem.finite_n))
        plan, self._arrays = backend.step_plan(problem, scheme, SSP_STAGES[scheme.integrator],
                                               problem.finite_n is not None)
        # the members' α, not the problem's, say whether there is a reaction
        self._plan = plan._replace(has_reaction=problem.reaction != "none" and not all(
            s.is_zero for s in self.schedules))
        self._mu = backend.put(mu0s)

    @property
    def mu(self) -> np.ndarray:
        """The members' current densities, (B, *grid.shape), copied to the host."""
        return np.array(self._mu)

    def stable_dt(self) -> float:
        """The smallest of the members' steps (fixed Δt: StabilityError if any member's ν > 1)."""
        transport, reaction = (np.asarray(x) for x in _batched_bound_parts(
            self._plan, self._arrays, self._mu))
        bounds = transport if self.problem.transport else np.zeros_like(transport)
        if self._plan.has_reaction:
            bounds = bounds + np.array([
                peak_alpha(s, self.problem.transport, self.scheme, self.t, self._target, float(b)) * r
                for s, b, r in zip(self.schedules, transport, reaction)])
        return step_size(self.scheme, float(bounds.max()), self.t)

    def step(self, dt: float) -> None:
        """Advance every member by Δt = ``dt`` (no stability check)."""
        alphas = jnp.asarray([jstep.alpha_means(s, self.t, dt, self._plan.strang)
                              for s in self.schedules])
        self._mu = _batched_step(self._plan, self._arrays, self._mu, float(dt), alphas,
                                 self._conserved_mass, self._floor)
        self.t += dt
        self.steps += 1

    def advance(self, t_target: float) -> None:
        """Step every member until ``t`` reaches ``t_target`` (the last step is shortened)."""
        self._target = t_target
        advance_to(self, t_target)
