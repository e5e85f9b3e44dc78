"""Reactions R of ∂t μ = ∇·(μ∇U) − α R(μ), one module each, registered in ``REACTIONS``.

On the grid every reaction has the rate −α (U − s) μ + α q μ_b: the shift s and the source q
come from sums over the current state (``rate_parameters``), and the solver's exact step and
its rescale to the conserved mass follow from the flags.  For the particles a reaction is a
birth–death rule (``particle_step``) whose mean-field limit is that rate (it imports the
particle helpers when it runs, so the model does not depend on ``pdesolve.particles``).
Adding a reaction is one module here that calls :func:`register`, its name in the import list
at the bottom, and its tests; the case schema, the solver, the particle system, the run checks
and the case-file reference read the registry.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Reaction:
    """One reaction.

    ``conserves_mass``: the flow keeps ∫dμ (the grid step is rescaled to the initial mass and
    the run checks the drift).  ``uses_prior``: the rate has the source α q μ_b, so the case
    needs ``dynamics.prior``.  ``constant_shift``: s and q do not depend on μ (with U = F the
    solver then keeps the step's factors).  ``centred_rates``: the particle rates are V_i − V̄
    (the particle step bound uses them).
    ``rate_parameters(backend, mu, u, cell_volume) -> (s, q)``, written with the backend's
    sums and its scalar ``ratio``/``minimum``/``maximum`` and no branch on their values, so that
    a tracing backend (JAX) evaluates it inside its compiled step;
    ``particle_step(system, dt)`` with V evaluated at the current positions, at the rate
    α = ``system.alpha`` (the mean of α(t) over the step);
    ``jax_particle_step(key, positions, weights, values, alpha, dt, weighted, sample_prior) ->
    (positions, weights, alive)``, the same rule traced by the JAX particle backend (a JAX PRNG
    key; ``sample_prior(key, k)`` draws k points from μ_b, None without a prior; ``alive``
    false when every particle was killed).  ``doc`` is the term α R(μ) as the case-file reference writes it.
    """

    name: str
    doc: str
    conserves_mass: bool
    uses_prior: bool
    constant_shift: bool
    centred_rates: bool
    rate_parameters: Callable[[Any, Any, Any, float], tuple[float, float]]
    particle_step: Callable[[Any, float], None]
    jax_particle_step: Callable[..., tuple[Any, Any, Any]]


REACTIONS: dict[str, Reaction] = {}


def register(reaction: Reaction) -> Reaction:
    """Add ``reaction`` to ``REACTIONS`` (names are unique)."""
    if reaction.name in REACTIONS:
        raise ValueError(f"reaction {reaction.name!r} is registered twice")
    REACTIONS[reaction.name] = reaction
    return reaction


def get_reaction(name: str) -> Reaction:
    """The registered reaction ``name``; ValueError naming the allowed ones otherwise."""
    if name not in REACTIONS:
        raise ValueError(f"reaction must be one of {', '.join(REACTIONS)}, got {name!r}")
    return REACTIONS[name]


# Registration order is the order the case-file errors and reference list them in.
from . import balanced, unbalanced, none, reinjection  # noqa: E402, F401
