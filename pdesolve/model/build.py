"""Turn a validated case into the objects a run needs: grid, problem, scheme, μ₀, output times."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config.case import Case, CaseError, GridSpec, OutputSpec, TimeSpec
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
    diagnostics_every: float = 0.0   # time between diagnostics rows (0: at the snapshots only)


def build_grid(spec: GridSpec) -> Grid:
    """The grid of a validated [grid] table."""
    return Grid(spec.lower, spec.upper, spec.cells, tuple(b == "periodic" for b in spec.boundary))


def output_times(spec: TimeSpec) -> np.ndarray:
    """Snapshot times of a validated [time] table: ``times`` (with 0 and t_end added),
    else ``outputs`` + 1 equally spaced times from 0 to t_end."""
    if spec.times:
        return np.unique(np.concatenate(([0.0], spec.times, [spec.t_end])))
    return np.linspace(0.0, spec.t_end, spec.outputs + 1)


DIAGNOSTICS_ROWS = 100  # default number of diagnostics rows over a run, besides the snapshots


def diagnostics_every(output: OutputSpec, time: TimeSpec) -> float:
    """Time between diagnostics rows: ``output.diagnostics_every``, by default
    t_end / DIAGNOSTICS_ROWS; 0 records rows at the snapshot times only."""
    if output.diagnostics_every is None:
        return time.t_end / DIAGNOSTICS_ROWS
    return output.diagnostics_every


def _built(source: str, key: str, make):
    """Call ``make()``; a ValueError from it becomes a CaseError at ``key``."""
    try:
        return make()
    except ValueError as err:
        raise CaseError(source, key, str(err)) from None


def build_setup(case: Case) -> Setup:
    """Grid, potential F, interaction K, dynamics, scheme and μ₀ of ``case``."""
    source = str(case.path)
    grid = _built(source, "grid", lambda: build_grid(case.grid))
    potential_spec = case.potential
    interaction_spec = case.interaction
    dynamics = case.dynamics
    potential = _built(source, "potential", lambda: potential_from_spec(potential_spec, grid.ndim))
    interaction = _built(source, "interaction", lambda: interaction_from_spec(interaction_spec, grid))
    mu0 = _built(source, "initial", lambda: initial_density_from_spec(case.initial, grid))
    prior = None
    if dynamics.prior is not None:
        prior = _built(source, "dynamics.prior",
                       lambda: initial_density_from_spec(dynamics.prior, grid))
    loss_offset = None
    if (potential_spec.kind == "mixture_target" and interaction_spec.kind == "neuron"
            and potential_spec["unit_variance"] == interaction_spec["unit_variance"]):
        loss_offset = potential.loss_offset
    problem = Problem(
        grid=grid,
        potential=potential,
        interaction=None if isinstance(interaction, NoInteraction) else interaction,
        reaction=dynamics.reaction,
        alpha=dynamics.alpha,
        tau=dynamics.tau,
        prior=prior,
        loss_offset=loss_offset,
        transport=dynamics.transport,
        finite_n=dynamics.finite_n,
    )
    if not np.all(np.isfinite(problem.potential)):
        raise CaseError(source, "potential", "F is not finite everywhere on the grid")
    scheme_spec, time_spec = case.scheme, case.time
    scheme = Scheme(order=scheme_spec.order, theta=LIMITER_THETA[scheme_spec.limiter],
                    integrator=scheme_spec.integrator, splitting=scheme_spec.splitting,
                    cfl=time_spec.cfl, dt=time_spec.dt, max_steps=time_spec.max_steps,
                    backend=scheme_spec.backend, diffusion=scheme_spec.diffusion)
    return Setup(grid, potential, problem, scheme, mu0, output_times(time_spec),
                 diagnostics_every(case.output, time_spec))
