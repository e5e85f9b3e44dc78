"""The whole Strang (or Lie) step of :class:`pdesolve.fv.solver.Solver` as one pure JAX function.

It composes :mod:`.operators` in the order the Solver composes the Numba kernels:

    R(Δt/2) ∘ T(Δt) ∘ R(Δt/2),   then the finite-n floor,

with T the SSP Runge–Kutta stages (V = F + K ⋆ μ re-evaluated at every stage) and R the exact
reaction step with U, s, q frozen at the midpoint state μ* = R_frozen(Δt/2) μ when they depend
on μ, rescaled to the conserved mass when the reaction conserves it.  The reaction's s and q
come from the registry's ``rate_parameters`` evaluated on traced sums (:class:`TracedScalars`),
so a new reaction needs no code here.  The static choices live in a hashable
:class:`StepPlan`; the arrays (F, the prior, the kernel transform) are arguments, so that one
compiled step serves every problem of the same plan and ``jax.vmap`` batches it.

α enters as the means of α(t) over the reaction sub-steps, computed on the host from the
schedule: ``alphas`` = (ᾱ over the first sub-step, ᾱ over its first half, the same two for the
second sub-step); Lie splitting uses the first pair only.
"""
from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp

from ....model.reactions import get_reaction
from . import operators as op
from .interaction import SpectralForm, interaction_potential


class TracedScalars:
    """The sums and scalar operations a reaction's ``rate_parameters`` uses, on traced values."""

    moment_sums = staticmethod(op.moment_sums)
    signed_moment_sums = staticmethod(op.signed_moment_sums)
    minimum = staticmethod(jnp.minimum)
    maximum = staticmethod(jnp.maximum)

    @staticmethod
    def ratio(numerator, denominator):
        """numerator / denominator, or 0 when the denominator is not positive."""
        positive = denominator > 0
        return jnp.where(positive, numerator / jnp.where(positive, denominator, 1.0), 0.0)


class StepPlan(NamedTuple):
    """Everything static about a step: the operators' layout, the SSP tableau (Shu–Osher
    weights per stage), the splitting, which terms are present, the reaction's name, whether
    U, s, q depend on μ, the interaction's spectral form (None without one), whether the
    finite-n floor empties cells (its value is an argument of :func:`step`), the cell volume,
    and whether α = 0 leaves μ bit for bit unchanged (the Solver's rule; a derivative in α at
    α = 0 needs the reacted branch instead, which differs from μ by the rescale's round-off)."""

    layout: op.Layout
    stages: tuple[tuple[float, float], ...]
    strang: bool
    transport: bool
    has_reaction: bool
    reaction: str
    depends_on_mu: bool
    form: SpectralForm | None
    floored: bool
    cell_volume: float
    identity_at_zero_alpha: bool = True


def potential(plan: StepPlan, arrays, mu):
    """V = F + K ⋆ μ."""
    if plan.form is None:
        return arrays["f"]
    return arrays["f"] + interaction_potential(mu, arrays, plan.form)


def _restore_mass(plan: StepPlan, mu, conserved_mass):
    """μ rescaled to the conserved mass when the reaction conserves it and Σμ > 0."""
    if not get_reaction(plan.reaction).conserves_mass:
        return mu
    mass = jnp.sum(mu)
    return jnp.where(mass > 0, mu * (conserved_mass / jnp.where(mass > 0, mass, 1.0)), mu)


def _rate_parameters(plan: StepPlan, v, mu):
    """(U, s, q) at μ with V = ``v``."""
    u = op.total_potential(v, mu, plan.layout.tau)
    shift, source = get_reaction(plan.reaction).rate_parameters(TracedScalars, mu, u,
                                                                plan.cell_volume)
    return u, shift, source


def _apply_reaction(plan: StepPlan, arrays, mu, u, shift, source, alpha, dt):
    """The exact step with U, s, q frozen: μ e^{−αΔt(U − s)} (+ the prior source)."""
    if get_reaction(plan.reaction).uses_prior:
        return op.reinjection_reaction(mu, u, arrays["prior"], shift, source, alpha, dt)
    return op.exponential_reaction(mu, u, shift, alpha * dt)


def react(plan: StepPlan, arrays, mu, v, alpha, alpha_half, dt, conserved_mass):
    """μ ← R(Δt) μ with α its mean ``alpha`` over the sub-step (``alpha_half`` over its first
    half); ``v`` = V(μ) or None.  α = 0 leaves μ unchanged bit for bit (as the Solver skips
    the sub-step) unless the plan says otherwise."""
    if not plan.has_reaction:
        return mu
    v = potential(plan, arrays, mu) if v is None else v
    u, shift, source = _rate_parameters(plan, v, mu)
    if plan.depends_on_mu:
        midpoint = _apply_reaction(plan, arrays, mu, u, shift, source, alpha_half, 0.5 * dt)
        u, shift, source = _rate_parameters(plan, potential(plan, arrays, midpoint), midpoint)
    reacted = _restore_mass(plan, _apply_reaction(plan, arrays, mu, u, shift, source, alpha, dt),
                            conserved_mass)
    if not plan.identity_at_zero_alpha:
        return reacted
    return jnp.where(alpha == 0.0, mu, reacted)


def transport(plan: StepPlan, arrays, mu, v, dt):
    """μ ← T(Δt) μ by the SSP stages; ``v`` = V(μ) or None."""
    if not plan.transport:
        return mu
    current = mu
    for index, (weight_base, weight_stage) in enumerate(plan.stages):
        stage_v = v if index == 0 and v is not None else potential(plan, arrays, current)
        current = op.transport_stage(current, stage_v, mu, weight_base, weight_stage, dt,
                                     plan.layout)
    return current


def step(plan: StepPlan, arrays, mu, v, dt, alphas, conserved_mass, floor):
    """One step of size Δt from μ (``v`` = V(μ) or None); returns the new μ.  ``floor``: the
    finite-n floor below which cells are emptied (used when ``plan.floored``)."""
    if plan.form is None:
        v = arrays["f"]
    if plan.strang:
        mu = react(plan, arrays, mu, v, alphas[0], alphas[1], 0.5 * dt, conserved_mass)
        after_reaction = v if plan.form is None else None
        mu = transport(plan, arrays, mu, after_reaction, dt)
        mu = react(plan, arrays, mu, after_reaction, alphas[2], alphas[3], 0.5 * dt,
                   conserved_mass)
    else:
        mu = transport(plan, arrays, mu, v, dt)
        mu = react(plan, arrays, mu, v if plan.form is None else None, alphas[0], alphas[1], dt,
                   conserved_mass)
    if plan.floored:
        mu = _restore_mass(plan, op.zero_below(mu, floor), conserved_mass)
    return mu


def rate_bound_parts(plan: StepPlan, arrays, mu, v):
    """(transport part of ν/Δt, max_{μ>0} |U − s|) at μ with V = ``v``: what
    :meth:`pdesolve.fv.solver.Solver.stable_dt` combines with the peak of α(t)."""
    transport_part = op.transport_rate_bound(op.face_speeds(v, plan.layout), plan.layout)
    if not plan.has_reaction:
        return transport_part, jnp.zeros(())
    u, shift, _ = _rate_parameters(plan, v, mu)
    return transport_part, op.max_rate(mu, u, shift)


def alpha_means(schedule, t: float, dt: float, strang: bool) -> tuple[float, float, float, float]:
    """The ``alphas`` of :func:`step` for the step [t, t + Δt] (host floats)."""
    if strang:
        half = 0.5 * dt
        return (schedule.mean(t, half), schedule.mean(t, 0.5 * half),
                schedule.mean(t + half, half), schedule.mean(t + half, 0.5 * half))
    return schedule.mean(t, dt), schedule.mean(t, 0.5 * dt), 0.0, 0.0
