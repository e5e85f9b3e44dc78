"""The two reinjection reactions on the grid and the particle algorithms that converge to them.

``reinjection``:          ∂t μ = −αVμ + α⟨V⁺⟩ μ_b − α⟨V⁻⟩ μ/M   (kills refilled one by one)
``reinjection_deficit``:  ∂t μ = −αVμ + α max(V̄,0) μ_b + α min(V̄,0) μ/M   (DESIGN §1)
(plus transport), ⟨V^±⟩ = ∫max(±V,0)dμ, V̄ = ∫V dμ.  README.md, "Reinjection".
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from pdesolve import Solver, build_setup, load_case, run_particles

CASE = Path(__file__).resolve().parent.parent / "cases" / "reinjection_1d.toml"
REACTIONS = ("reinjection", "reinjection_deficit")


def reaction_rhs(reaction: str, v: np.ndarray, prior: np.ndarray, h: float):
    """dμ/dt of the pure reaction on cells of width h, written out independently of the solver."""
    def rhs(_t, mu):
        mass = mu.sum() * h
        if reaction == "reinjection":
            gain = np.maximum(v, 0) @ mu * h
            loss = np.maximum(-v, 0) @ mu * h
        else:
            v_bar = v @ mu * h
            gain, loss = max(v_bar, 0.0), max(-v_bar, 0.0)
        return -v * mu + gain * prior - loss * mu / mass
    return rhs


def pure_reaction_setup(reaction: str, dt: float | None = None):
    overrides = [f"dynamics.reaction={reaction}", "dynamics.transport=false", "time.t_end=1.0"]
    if dt is not None:
        overrides.append(f"time.dt={dt}")
    return build_setup(load_case(CASE, tuple(overrides)))


@pytest.mark.parametrize("reaction", REACTIONS)
def test_pure_reaction_converges_to_the_ode_with_measured_order(reaction):
    setup = pure_reaction_setup(reaction)
    h = setup.grid.spacing[0]
    reference = solve_ivp(reaction_rhs(reaction, setup.problem.potential, setup.problem.prior, h),
                          (0.0, 1.0), setup.mu0, rtol=1e-11, atol=1e-14).y[:, -1]
    errors = []
    steps = (0.1, 0.05, 0.025)
    for dt in steps:
        setup = pure_reaction_setup(reaction, dt)
        solver = Solver(setup.problem, setup.scheme, setup.mu0)
        mass0 = setup.grid.integrate(solver.mu)
        solver.advance(1.0)
        assert np.all(solver.mu >= 0)
        assert setup.grid.integrate(solver.mu) == pytest.approx(mass0, rel=1e-13)
        errors.append(setup.grid.integrate(np.abs(solver.mu - reference)))
    order = np.polyfit(np.log(steps), np.log(errors), 1)[0]
    assert order > 1.8, (errors, order)
    assert errors[-1] < 1e-3


def test_the_two_limits_differ_only_where_v_changes_sign():
    """With V ≥ 0 on the support ⟨V⁻⟩ = 0 and ⟨V⁺⟩ = V̄: both reactions are one PDE;
    in the shipped case (V changes sign) they differ by far more than the scheme's error."""
    finals = {}
    for shift in ("0.5 * x**2 + 0.1", "0.5 * x**2 - 0.5"):
        for reaction in REACTIONS:
            setup = build_setup(load_case(CASE, (f"dynamics.reaction={reaction}",
                                                 f"potential.expr={shift!r}".replace("'", '"'),
                                                 "time.t_end=1.0")))
            solver = Solver(setup.problem, setup.scheme, setup.mu0)
            solver.advance(1.0)
            finals[shift, reaction] = (setup.grid, solver.mu)
    grid, same_a = finals["0.5 * x**2 + 0.1", "reinjection"]
    assert np.max(np.abs(same_a - finals["0.5 * x**2 + 0.1", "reinjection_deficit"][1])) < 1e-12
    _, event = finals["0.5 * x**2 - 0.5", "reinjection"]
    _, deficit = finals["0.5 * x**2 - 0.5", "reinjection_deficit"]
    assert grid.integrate(np.abs(event - deficit)) > 0.05


def grid_mean(reaction: str, t: float) -> float:
    setup = build_setup(load_case(CASE, (f"dynamics.reaction={reaction}",)))
    solver = Solver(setup.problem, setup.scheme, setup.mu0)
    solver.advance(t)
    return float(setup.grid.integrate(setup.grid.axes[0] * solver.mu))


@pytest.mark.parametrize("particles, n, dt", [("reinjection", 300, 0.005),
                                              ("reinjection", 20000, 0.005),
                                              ("reinjection_deficit", 20000, 0.005)])
def test_particles_converge_to_their_own_limit(particles, n, dt):
    """The event-wise algorithm follows the event-wise PDE at any n; the literal (deficit)
    algorithm follows DESIGN §1's PDE once λ = nαΔt⟨|V|⟩ ≫ 1 (here λ ≈ 70)."""
    t = 1.0
    means = run_particles(load_case(CASE, (f"dynamics.reaction={particles}",)), n=n, seed=5,
                          times=[t], dt=dt, replicates=6)["mean"][:, 0, 0]
    own, other = grid_mean(particles, t), grid_mean(REACTIONS[particles == REACTIONS[0]], t)
    standard_error = means.std(ddof=1) / np.sqrt(means.size)
    assert abs(means.mean() - own) < 4 * standard_error + 0.004  # 0.004: the Δt = 0.005 bias
    assert abs(means.mean() - other) > 4 * standard_error + 0.03
