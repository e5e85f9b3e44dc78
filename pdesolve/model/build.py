"""Turn a validated case into the objects a run needs: grid, problem, scheme, μ₀, output times."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config.case import Case, CaseError
from .grid import Grid
from .initial import initial_density_from_spec
from .interaction import NoInteraction, interaction_from_spec
from .potentials import Potential, potential_from_spec
from .problem import LIMITER_THETA, Problem, Scheme


@dataclass
class Setup:
    """Everything a grid run of one case needs, built once."""

    grid: Grid
    potential: Potential
    problem: Problem
    scheme: Scheme
    mu0: np.ndarray
    output_times: np.ndarray


def build_grid(spec: dict) -> Grid:
    """The grid of a validated [grid] table."""
    return Grid(tuple(spec["lower"]), tuple(spec["upper"]), tuple(spec["cells"]),
                tuple(b == "periodic" for b in spec["boundary"]))


def output_times(spec: dict) -> np.ndarray:
    """Snapshot times of a validated [time] table: ``times`` (with 0 and t_end added),
    else ``outputs`` + 1 equally spaced times from 0 to t_end."""
    t_end = spec["t_end"]
    if spec.get("times"):
        return np.unique(np.concatenate(([0.0], spec["times"], [t_end])))
    return np.linspace(0.0, t_end, spec["outputs"] + 1)


def _built(source: str, key: str, make):
    """Call ``make()``; a ValueError from it becomes a CaseError at ``key``."""
    try:
        return make()
    except ValueError as err:
        raise CaseError(source, key, str(err)) from None


def build_setup(case: Case) -> Setup:
    """Grid, potential F, interaction K, dynamics, scheme and μ₀ of ``case``."""
    source = str(case.path)
    grid = _built(source, "grid", lambda: build_grid(case.section("grid")))
    potential_spec = case.section("potential")
    interaction_spec = case.section("interaction")
    dynamics = case.section("dynamics")
    potential = _built(source, "potential", lambda: potential_from_spec(potential_spec, grid.ndim))
    interaction = _built(source, "interaction", lambda: interaction_from_spec(interaction_spec, grid))
    mu0 = _built(source, "initial", lambda: initial_density_from_spec(case.section("initial"), grid))
    prior = None
    if dynamics["prior"] is not None:
        prior = _built(source, "dynamics.prior",
                       lambda: initial_density_from_spec(dynamics["prior"], grid))
    loss_offset = None
    if (potential_spec["kind"] == "mixture_target" and interaction_spec["kind"] == "neuron"
            and potential_spec["unit_variance"] == interaction_spec["unit_variance"]):
        loss_offset = potential.loss_offset
    problem = Problem(
        grid=grid,
        potential=potential.on_grid(grid),
        interaction=None if isinstance(interaction, NoInteraction) else interaction,
        reaction=dynamics["reaction"],
        alpha=dynamics["alpha"],
        tau=dynamics["tau"],
        prior=prior,
        loss_offset=loss_offset,
        transport=dynamics["transport"],
    )
    if not np.all(np.isfinite(problem.potential)):
        raise CaseError(source, "potential", "F is not finite everywhere on the grid")
    scheme_spec = case.section("scheme")
    time_spec = case.section("time")
    scheme = Scheme(order=scheme_spec["order"], theta=LIMITER_THETA[scheme_spec["limiter"]],
                    integrator=scheme_spec["integrator"], splitting=scheme_spec["splitting"],
                    cfl=time_spec["cfl"], dt=time_spec["dt"], max_steps=time_spec["max_steps"])
    return Setup(grid, potential, problem, scheme, mu0, output_times(time_spec))
