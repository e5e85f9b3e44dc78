"""The implicit transport–diffusion step (``scheme.diffusion = "implicit"``): its operator's
structure, positivity and mass for any Δt, the discrete Gibbs state as its fixed point, the
exact Ornstein–Uhlenbeck solution with the measured order in Δt, energy decay at every step,
resume, and the case-file contract."""
import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import spsolve

from pdesolve.analysis.exact import GaussianFlow, gibbs_density
from pdesolve.config.case import CaseError, case_from_text
from pdesolve.fv.backends.numba.implicit import ImplicitFokkerPlanck, bernoulli
from pdesolve.fv.diagnostics import energy
from pdesolve.fv.solver import Solver, StabilityError
from pdesolve.cli import main
from pdesolve.io.grid_result import read_result
from pdesolve.model.grid import Grid
from pdesolve.model.interaction import ConvolutionInteraction, GaussianKernel
from pdesolve.model.problem import Problem, Scheme

IMPLICIT = Scheme(diffusion="implicit")
GRIDS = {
    "1d": Grid((-4.0,), (4.0,), (200,), (False,)),
    "2d-mixed": Grid((-3.0, 0.0), (3.0, 2 * np.pi), (24, 20), (False, True)),
    "3d": Grid((-2.0,) * 3, (2.0,) * 3, (8, 6, 5), (True, False, False)),
}


def rough_potential(grid: Grid, seed: int = 0) -> np.ndarray:
    """A potential with a trend and noise: faces with |δ| up to tens, to test the extremes."""
    rng = np.random.default_rng(seed)
    return (np.linspace(0.0, 3.0, grid.size) + 0.3 * rng.normal(size=grid.size)).reshape(grid.shape)


def test_bernoulli_function():
    x = np.array([-800.0, -30.0, -1.0, -1e-9, 0.0, 1e-9, 1.0, 30.0, 800.0])
    b = bernoulli(x)
    assert np.all(np.isfinite(b)) and np.all(b >= 0)
    assert b[4] == 1.0
    np.testing.assert_allclose(bernoulli(-x) - b, x, rtol=1e-13, atol=1e-13)   # B(−x) = B(x) + x
    np.testing.assert_allclose(bernoulli(np.array([1.0]))[0], 1.0 / (np.e - 1.0), rtol=1e-15)
    near = np.array([-2e-8, -1e-8 * (1 - 1e-9), 1e-8 * (1 - 1e-9), 2e-8])   # both sides of the switch
    np.testing.assert_allclose(bernoulli(near), 1 - near / 2, rtol=1e-15)


@pytest.mark.parametrize("name", GRIDS)
def test_generator_conserves_mass_and_has_the_gibbs_kernel(name):
    grid = GRIDS[name]
    tau = 0.05
    v = rough_potential(grid).reshape(-1)
    a = ImplicitFokkerPlanck(grid, tau).generator(v).toarray()
    off = a - np.diag(np.diag(a))
    assert off.min() >= 0.0
    np.testing.assert_allclose(a.sum(axis=0), 0.0, atol=1e-10 * np.abs(a).max())
    pi = np.exp(-(v - v.min()) / tau)
    flow = off * pi[None, :]                       # flow[j, i] = A_ji π_i, from i to j
    np.testing.assert_allclose(flow, flow.T, rtol=1e-12, atol=1e-300)   # detailed balance
    faces = sum(max(0, n - (0 if p else 1)) * grid.size // n for n, p in zip(grid.cells, grid.periodic) if n > 1)
    assert np.count_nonzero(off) == 2 * faces


@pytest.mark.parametrize("name", GRIDS)
@pytest.mark.parametrize("dt", [1e-6, 1e-2, 1.0, 1e3, 1e6])
def test_step_is_positive_for_any_dt_and_solves_the_linear_system(name, dt):
    grid = GRIDS[name]
    mu = np.zeros(grid.size)
    mu[grid.size // 3] = 1.0          # a point mass: the tails underflow towards 0
    v = rough_potential(grid).reshape(-1)
    op = ImplicitFokkerPlanck(grid, 0.05)
    out = np.empty(grid.size)
    op.step(mu, v, dt, out)
    assert out.min() >= 0.0
    # against an independent solve of (I − Δt A) μ¹ = μ⁰, which is not rescaled to the mass
    matrix = sp.identity(grid.size, format="csc") - dt * op.generator(v)
    direct = spsolve(matrix, mu)
    assert abs(direct.sum() - 1.0) <= 1e-9                    # the exact step conserves mass
    np.testing.assert_allclose(out, direct, rtol=1e-6, atol=1e-12 * direct.max())


def test_factorisation_is_kept_only_while_v_and_dt_are_unchanged():
    grid = GRIDS["2d-mixed"]
    op = ImplicitFokkerPlanck(grid, 0.1)
    v = rough_potential(grid).reshape(-1)
    mu = np.random.default_rng(1).random(grid.size)
    first, again, other_dt, other_v = (np.empty(grid.size) for _ in range(4))
    op.step(mu, v, 0.1, first)
    factor = op._factors[0.1]
    op.step(mu, v.copy(), 0.1, again)
    assert op._factors[0.1] is factor and np.array_equal(first, again)
    op.step(mu, v, 0.2, other_dt)
    assert list(op._factors) == [0.1, 0.2]
    op.step(mu, v, 0.3, again)
    assert list(op._factors) == [0.2, 0.3]                # the oldest of KEPT_FACTORS = 2 dropped
    op.step(mu, v, 0.2, again)
    assert np.array_equal(again, other_dt)
    v2 = v.copy()
    v2[5] += 1e-3
    op.step(mu, v2, 0.2, other_v)
    assert list(op._factors) == [0.2]                     # a new V: the old factorisations are gone
    assert not np.array_equal(other_dt, other_v)
    fresh = np.empty(grid.size)
    ImplicitFokkerPlanck(grid, 0.1).step(mu, v2, 0.2, fresh)
    assert np.array_equal(fresh, other_v)


def double_well(grid: Grid) -> np.ndarray:
    x, = grid.mesh()
    return 0.25 * x ** 4 - 0.5 * x ** 2 + 0.1 * x


def test_discrete_gibbs_state_is_the_fixed_point_for_any_dt():
    grid = Grid((-2.5,), (2.5,), (200,), (False,))
    potential = double_well(grid).reshape(-1)
    gibbs = gibbs_density(grid, potential, 0.1)
    out = np.empty(grid.size)
    for dt in (1e-3, 1.0, 1e3):
        ImplicitFokkerPlanck(grid, 0.1).step(gibbs, potential, dt, out)
        np.testing.assert_allclose(out, gibbs, rtol=1e-10, atol=1e-14 * gibbs.max())


@pytest.mark.parametrize("dt, tolerance", [(0.05, 1e-9), (1.0, 1e-9), (20.0, 1e-6)])
def test_gibbs_state_is_reached_with_energy_decaying_at_every_step(dt, tolerance):
    grid = Grid((-2.5,), (2.5,), (200,), (False,))
    tau = 0.25
    potential = double_well(grid)
    x, = grid.mesh()
    mu0 = np.exp(-(x - 1.2) ** 2 / 0.02)
    mu0 /= grid.integrate(mu0)
    solver = Solver(Problem(grid, potential, None, "balanced", 0.0, tau), Scheme(diffusion="implicit", dt=dt), mu0)
    energies = [energy(solver)]

    def check(s, step):
        assert s.mu.min() >= 0.0
        assert abs(grid.integrate(s.mu) - 1.0) <= 1e-12
        energies.append(energy(s))
        assert energies[-1] <= energies[-2] + 1e-13 * abs(energies[-2])

    solver.advance(300.0, check)
    # the mass crossed the barrier into the deeper well on the left
    assert grid.integrate(np.where(x < 0, solver.mu, 0.0)) > 0.6
    assert grid.integrate(np.abs(solver.mu - gibbs_density(grid, potential, tau))) < tolerance
    assert energies[0] - energies[-1] > 0.1


def test_gibbs_state_on_the_periodic_torus_with_reaction_and_large_steps():
    grid = Grid((0.0, 0.0), (2 * np.pi, 2 * np.pi), (48, 48), (True, True))
    x, y = grid.mesh()
    potential = (1 - np.cos(x)) + (1 - np.cos(y))
    tau = 0.2
    mu0 = np.exp(-((x - 2.0) ** 2 + (y - 4.5) ** 2) / (2 * 0.6 ** 2))
    mu0 /= grid.integrate(mu0)
    solver = Solver(Problem(grid, potential, None, "balanced", 1.0, tau), Scheme(diffusion="implicit", dt=0.05),
                    mu0)
    solver.advance(30.0, lambda s, dt: (s.mu.min() >= 0.0) or pytest.fail("negative density"))
    assert abs(grid.integrate(solver.mu) - 1.0) <= 1e-12
    # balanced reaction with τ > 0, K = 0: the Gibbs state is stationary for the reaction as well
    assert grid.integrate(np.abs(solver.mu - gibbs_density(grid, potential, tau))) < 1e-6


def ou_error(dt: float, grid: Grid, flow: GaussianFlow, t_end: float) -> float:
    solver = Solver(flow.problem(grid), Scheme(diffusion="implicit", dt=dt), flow.initial_density(grid))
    solver.advance(t_end)
    return grid.integrate(np.abs(solver.mu - flow.state(t_end).density(grid)))


def test_exact_ornstein_uhlenbeck_solution_first_order_in_dt():
    flow = GaussianFlow(a=1.0, m0=(0.5,), s0=0.4, tau=0.2)
    grid = Grid((-4.0,), (4.0,), (1600,), (False,))
    steps = np.array([0.1, 0.05, 0.025, 0.0125])
    errors = [ou_error(dt, grid, flow, 1.0) for dt in steps]
    order = float(np.polyfit(np.log(steps), np.log(errors), 1)[0])
    assert 0.9 <= order <= 1.1, (order, errors)
    assert errors[-1] < 5e-3


def test_default_step_follows_transport_alone_and_fixed_steps_have_no_transport_limit():
    grid = Grid((-4.0,), (4.0,), (800,), (False,))
    x, = grid.mesh()
    mu0 = np.exp(-x ** 2)
    mu0 /= grid.integrate(mu0)

    def stable_dt(tau, scheme):
        return Solver(Problem(grid, 0.5 * x ** 2, None, "balanced", 0.0, tau), scheme, mu0).stable_dt()

    explicit_without_tau = stable_dt(0.0, Scheme())
    rung = stable_dt(0.5, IMPLICIT)      # the transport CFL step rounded down to a power of 2^(1/8)
    assert explicit_without_tau / 2 ** (1 / 8) < rung <= explicit_without_tau
    assert abs(np.log2(rung) * 8 - round(np.log2(rung) * 8)) < 1e-9
    assert stable_dt(0.5, Scheme()) < stable_dt(0.0, Scheme()) / 10     # the h² limit
    big = Scheme(diffusion="implicit", dt=1.0)
    assert stable_dt(0.5, big) == 1.0
    with pytest.raises(StabilityError):
        stable_dt(0.5, Scheme(dt=1.0))


def test_rates_use_the_implicit_operator():
    grid = GRIDS["2d-mixed"]
    x, y = grid.mesh()
    potential = 0.5 * x ** 2 + np.sin(y)
    mu0 = np.exp(-x ** 2) * (1.5 + np.cos(y))
    solver = Solver(Problem(grid, potential, None, "balanced", 1.0, 0.3), IMPLICIT, mu0)
    _, transport, _ = solver.rates()
    expected = ImplicitFokkerPlanck(grid, 0.3).generator(potential.reshape(-1)) @ mu0.reshape(-1)
    np.testing.assert_allclose(transport.reshape(-1), expected, rtol=1e-14, atol=1e-14)
    assert abs(transport.sum()) < 1e-12 * np.abs(transport).sum()


def test_resume_from_a_state_is_bit_for_bit():
    grid = Grid((-3.0, -3.0), (3.0, 3.0), (32, 32), (False, False))
    x, y = grid.mesh()
    potential = 0.5 * (x ** 2 + y ** 2)
    mu0 = np.exp(-((x - 1) ** 2 + y ** 2))
    problem = Problem(grid, potential, None, "balanced", 1.0, 0.2)
    whole = Solver(problem, IMPLICIT, mu0)
    whole.advance(0.4)
    whole.advance(1.0)
    first = Solver(problem, IMPLICIT, mu0)
    first.advance(0.4)
    second = Solver(problem, IMPLICIT, np.zeros(grid.shape))
    second.restore(first.state())
    second.advance(1.0)
    assert second.steps == whole.steps
    assert np.array_equal(second.mu, whole.mu)


CASE = """
[grid]
lower = [-3.0]
upper = [3.0]
cells = [64]
[potential]
kind = "quadratic"
[dynamics]
tau = {tau}
[time]
t_end = 0.5
{dt}
[scheme]
diffusion = "{diffusion}"
backend = "{backend}"
"""


def case_text(tau=0.1, diffusion="implicit", backend="numba", dt="dt = 0.05"):
    return CASE.format(tau=tau, diffusion=diffusion, backend=backend, dt=dt)


def test_case_key_and_its_errors():
    case = case_from_text("c.toml", case_text(), ())
    assert case.scheme.diffusion == "implicit"
    with pytest.raises(CaseError, match=r"time\.dt: missing: scheme\.diffusion = 'implicit'"):
        case_from_text("c.toml", case_text(dt=""), ())
    with pytest.raises(CaseError, match=r"scheme\.diffusion.*transport = false"):
        case_from_text("c.toml", case_text(), ("dynamics.transport=false",))
    with pytest.raises(CaseError, match=r"scheme\.diffusion.*tau > 0"):
        case_from_text("c.toml", case_text(tau=0.0), ())
    with pytest.raises(CaseError, match=r"scheme\.diffusion.*allowed: explicit, implicit"):
        case_from_text("c.toml", case_text(diffusion="crank"), ())
    pytest.importorskip("jax")
    with pytest.raises(CaseError, match=r"scheme\.diffusion.*on the .jax. backend"):
        case_from_text("c.toml", case_text(backend="jax"), ())


@pytest.mark.parametrize("splitting", ["strang", "lie"])
def test_with_an_interaction_it_approaches_the_explicit_scheme_as_dt_falls(splitting):
    """V = F + K⋆μ changes every step (a new factorisation each): both schemes solve the
    same PDE, so the gap between them falls like Δt (first order) down to their spatial
    difference."""
    grid = Grid((-3.0,), (3.0,), (200,), (False,))
    x, = grid.mesh()
    interaction = ConvolutionInteraction(grid, GaussianKernel(width=0.5, strength=-0.5))
    problem = Problem(grid, 0.5 * x ** 2, interaction, "balanced", 1.0, 0.2)
    mu0 = np.exp(-(x - 1.0) ** 2 / 0.1)
    mu0 /= grid.integrate(mu0)
    explicit = Solver(problem, Scheme(splitting=splitting, cfl=0.25), mu0)
    explicit.advance(0.5)
    gaps = []
    for dt in (0.02, 0.01, 0.005):
        implicit = Solver(problem, Scheme(diffusion="implicit", splitting=splitting, dt=dt), mu0)
        implicit.advance(0.5, lambda s, step: (s.mu.min() >= 0.0) or pytest.fail("negative density"))
        assert abs(grid.integrate(implicit.mu) - 1.0) <= 1e-12
        gaps.append(grid.integrate(np.abs(implicit.mu - explicit.mu)))
    assert gaps[0] > gaps[1] > gaps[2] and gaps[2] < 1e-2, gaps
    assert 1.6 < gaps[0] / gaps[1] < 2.4, gaps


def test_a_cfl_step_with_nothing_to_bound_it_is_refused():
    grid = Grid((-3.0,), (3.0,), (50,), (False,))
    x, = grid.mesh()
    solver = Solver(Problem(grid, np.zeros(grid.shape), None, "balanced", 0.0, 0.3), IMPLICIT, np.exp(-x ** 2))
    with pytest.raises(StabilityError, match="give it a fixed dt"):
        solver.stable_dt()


def test_the_command_line_runs_an_implicit_case(tmp_path):
    case = tmp_path / "c.toml"
    case.write_text(case_text().replace("t_end = 0.5", "t_end = 0.5\noutputs = 4"))
    assert main(["run", str(case), "-o", str(tmp_path / "a.h5"), "-q"]) == 0
    result = read_result(tmp_path / "a.h5")
    # four output intervals of 0.125 = 0.05 + 0.05 + 0.025 (the last step shortened)
    assert result.summary["steps"] == 12 and result.mu.min() >= 0.0
    assert abs(result.grid.integrate(result.mu[-1]) - result.grid.integrate(result.mu[0])) < 1e-12
