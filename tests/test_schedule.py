"""α schedules (``dynamics.alpha`` as a function of t): the schedule arithmetic, the case
syntax and its errors, the grid against exact solutions with a time-dependent α (pure
birth–death: p = p₀ + a ∫α; with transport: the moment ODE), the time order of Strang
splitting with a schedule, and particles and networks using the mean rate of each step."""
import math

import numpy as np
import pytest

from pdesolve.analysis.exact import GaussianFlow
from pdesolve.config.case import CaseError, case_from_text
from pdesolve.fv.solver import Solver
from pdesolve.model.grid import Grid
from pdesolve.model.problem import Scheme
from pdesolve.model.schedule import Constant, Expression, Piecewise, ScheduleError

from test_exact_solutions import fitted_order, solve_gaussian

OFF = Piecewise((0.0, 0.3), (2.0, 0.0))
STAIRS = Piecewise((0.0, 0.1, 0.35), (3.0, 0.5, 1.5))
DECAY = Expression("2*exp(-3*t) + t**2")


def box(cells, half_width=4.0):
    return Grid((-half_width,), (half_width,), (cells,), (False,))


# -- the schedule arithmetic ----------------------------------------------------------

def test_constant_mean_is_the_number_itself():
    """A number gives bit for bit the steps it gave before schedules: mean and peak return
    the value, not an integral divided by Δt."""
    alpha = Constant(0.1)
    assert alpha.mean(0.3, 0.7) == 0.1 and alpha.peak(0.0, math.inf) == 0.1
    assert alpha.integral(0.5, 2.5) == pytest.approx(0.2)


def test_piecewise_integral_mean_and_peak():
    assert STAIRS.value_at(0.0) == 3.0 and STAIRS.value_at(0.1) == 0.5 and STAIRS.value_at(9.0) == 1.5
    assert STAIRS.integral(0.05, 0.5) == pytest.approx(3.0 * 0.05 + 0.5 * 0.25 + 1.5 * 0.15, rel=1e-14)
    assert STAIRS.mean(0.12, 0.1) == 0.5                       # inside one piece: its value exactly
    assert STAIRS.mean(0.3, 0.1) == pytest.approx((0.5 * 0.05 + 1.5 * 0.05) / 0.1, rel=1e-14)
    assert STAIRS.peak(0.11, 0.2) == 0.5 and STAIRS.peak(0.2, 0.4) == 1.5 and STAIRS.peak(0.2, math.inf) == 1.5
    assert OFF.peak(0.31, math.inf) == 0.0 and OFF.mean(0.4, 1.0) == 0.0
    assert OFF.describe() == "2, off after t = 0.3"


def test_expression_mean_is_gauss_legendre_exact_for_polynomials():
    cubic = Expression("1 + t**3")
    t0, dt = 0.4, 0.3
    exact = 1.0 + ((t0 + dt) ** 4 - t0 ** 4) / (4 * dt)
    assert cubic.mean(t0, dt) == pytest.approx(exact, rel=1e-14)
    assert DECAY.peak(0.0, 1.0) == pytest.approx(2.0, rel=1e-14)


def test_negative_expression_is_refused_where_used():
    with pytest.raises(ScheduleError, match="at t = "):
        Expression("1 - t").mean(0.5, 1.0)


@pytest.mark.parametrize("bad", [((0.0, 0.0), (1.0, 2.0)), ((0.1,), (1.0,)), ((0.0,), (-1.0,)),
                                 ((0.0, 1.0), (1.0,))])
def test_piecewise_checks_its_table(bad):
    with pytest.raises(ScheduleError):
        Piecewise(*bad)


# -- the case syntax -----------------------------------------------------------------------

CASE = """
[grid]
lower = [-4.0]
upper = [4.0]
cells = 50
[potential]
kind = "quadratic"
[time]
t_end = 1.0
[dynamics]
{alpha}
"""


def alpha_of(line: str, overrides=()):
    return case_from_text("c.toml", CASE.format(alpha=line), overrides).dynamics.alpha


def test_every_form_of_alpha_in_a_case():
    assert alpha_of("alpha = 2") == Constant(2.0)
    assert alpha_of("") == Constant(1.0)
    assert alpha_of('alpha = "0.1*exp(-t/50)"') == Expression("0.1*exp(-t/50)")
    assert alpha_of("alpha = { value = 5.0, off_after = 0.5 }") == Piecewise((0.0, 0.5), (5.0, 0.0))
    assert alpha_of("alpha = { times = [0, 0.2], values = [1, 0.5] }") == Piecewise((0.0, 0.2), (1.0, 0.5))


def test_alpha_schedules_from_the_command_line():
    assert alpha_of("", ["dynamics.alpha={value=5, off_after=0.5}"]) == Piecewise((0.0, 0.5), (5.0, 0.0))
    assert alpha_of("", ['dynamics.alpha="2*t"']) == Expression("2*t")


@pytest.mark.parametrize("line, key, words", [
    ('alpha = "t +"', "dynamics.alpha", "does not compile"),
    ('alpha = "x"', "dynamics.alpha", "does not compile"),
    ('alpha = "0.5 - t"', "dynamics.alpha", "is -0.000244141 at t = 0.500244"),
    ('alpha = "log(t)"', "dynamics.alpha", "at t = 0"),
    ("alpha = { value = 5.0 }", "dynamics.alpha.off_after", "missing required key"),
    ("alpha = { value = -5.0, off_after = 1 }", "dynamics.alpha.value", "out of range"),
    ("alpha = { value = 5.0, off_after = 0 }", "dynamics.alpha.off_after", "out of range"),
    ("alpha = { times = [0, 1] }", "dynamics.alpha.values", "missing required key"),
    ("alpha = { times = [0, 1], values = [1] }", "dynamics.alpha.values", "1 values for 2 times"),
    ("alpha = { times = [0.5, 1], values = [1, 2] }", "dynamics.alpha.times", "does not start at 0"),
    ("alpha = { times = [0, 1, 1], values = [1, 2, 3] }", "dynamics.alpha.times", "strictly increase"),
    ("alpha = { times = [0], values = [1], off = 2 }", "dynamics.alpha.off", "unknown key"),
    ("alpha = [1, 2]", "dynamics.alpha", "a string or a table"),
    ("alpha = true", "dynamics.alpha", "expected a number >= 0, a string or a table, got true (boolean)"),
])
def test_bad_schedules_are_one_line_naming_the_key(line, key, words):
    with pytest.raises(CaseError) as info:
        alpha_of(line)
    message = str(info.value)
    assert f"c.toml: {key}: " in message and words in message and "\n" not in message, message


# -- the grid against exact solutions -----------------------------------------------------

INTEGRALS_TO_HALF = {  # ∫₀^0.5 α, by hand
    "off_after": 2.0 * 0.3, "piecewise": 3.0 * 0.1 + 0.5 * 0.25 + 1.5 * 0.15,
    "expression": 2.0 / 3.0 * (1.0 - math.exp(-1.5)) + 0.5 ** 3 / 3.0}


@pytest.mark.parametrize("schedule, name", [(OFF, "off_after"), (STAIRS, "piecewise"), (DECAY, "expression")],
                         ids=["off_after", "piecewise", "expression"])
def test_pure_birth_death_precision_follows_the_integral_of_alpha(schedule, name):
    """F = x²/2, no transport: dp/dt = a α(t), so p(t) = p₀ + a ∫₀ᵗ α.  Each reaction step is
    exact per cell with the mean of α over it, so the grid keeps the exact point values to
    round-off at any Δt, also across the breakpoints."""
    flow = GaussianFlow(a=1.0, m0=(0.5,), s0=0.5, alpha=schedule, reaction="balanced", transport=False)
    for cells in (50, 100):
        for dt in (None, 0.03):
            _, error = solve_gaussian(flow, box(cells), Scheme(order=2, dt=dt), 0.5)
            assert error < 1e-11, (cells, dt, error)
    p = 1.0 / flow.state(0.5).variance[0]
    assert p == pytest.approx(4.0 + INTEGRALS_TO_HALF[name], rel=1e-13)


def test_the_integral_of_an_expression_is_exact_over_long_intervals():
    """The exact flows integrate α over [0, t] in one call: adaptive quadrature, not one
    Gauss rule over the whole interval (which is 14% off at t = 30 here)."""
    alpha = Expression("1 + sin(t)")
    for t in (1.0, 10.0, 30.0):
        assert alpha.integral(0.0, t) == pytest.approx(t + 1.0 - math.cos(t), rel=1e-12)


def test_scheduled_exact_flow_reduces_to_the_constant_formula():
    """The moment ODE the exact flow integrates for a schedule gives the closed form of a
    constant α when the schedule is constant in disguise."""
    constant = GaussianFlow(a=1.0, m0=(0.5,), s0=0.5, alpha=2.0, b=0.5, reaction="balanced")
    disguised = GaussianFlow(a=1.0, m0=(0.5,), s0=0.5, alpha=Piecewise((0.0, 0.2), (2.0, 2.0)), b=0.5,
                             reaction="balanced")
    for t in (0.1, 0.5):
        a, b = constant.state(t), disguised.state(t)
        assert b.mean == pytest.approx(a.mean, rel=1e-10) and b.variance == pytest.approx(a.variance, rel=1e-10)


@pytest.mark.parametrize("schedule", [STAIRS, DECAY], ids=["piecewise", "expression"])
def test_transport_and_scheduled_birth_death_converge_at_order_two(schedule):
    """With transport the exact flow is the moment ODE; the grid converges to it at order 2
    in h (mass, positivity and energy decay asserted on every step)."""
    flow = GaussianFlow(a=1.0, m0=(0.5,), s0=0.5, alpha=schedule, reaction="balanced")
    cells = [100, 200, 400]
    errors = [solve_gaussian(flow, box(n, 3.0), Scheme(order=2), 0.5)[1] for n in cells]
    assert fitted_order(6.0 / np.array(cells), errors) >= 1.8, errors


def strang_with(schedule, steps, grid):
    flow = GaussianFlow(a=1.0, m0=(0.5,), s0=0.5, alpha=schedule, reaction="balanced")
    solver = Solver(flow.problem(grid), Scheme(order=2, dt=0.5 / steps), flow.initial_density(grid))
    solver.advance(0.5)
    return solver.mu.copy()


@pytest.mark.parametrize("schedule", [STAIRS, DECAY], ids=["piecewise", "expression"])
def test_strang_splitting_keeps_order_two_in_time_with_a_schedule(schedule):
    """Against a run of 16× the steps on the same grid: order 2 in Δt.  Taking α at the start
    of each reaction sub-step instead of its mean over it would make this order 1."""
    grid = box(200, 3.0)
    reference = strang_with(schedule, 6400, grid)
    steps = np.array([200, 400, 800])
    errors = [grid.integrate(np.abs(strang_with(schedule, n, grid) - reference)) for n in steps]
    assert 1.8 <= fitted_order(1.0 / steps, errors) <= 2.2, errors


def test_a_ramp_to_zero_at_t_end_runs_to_the_end():
    """α = 1 − t is ≥ 0 on [0, t_end = 1] only: no step bound may evaluate it beyond t_end."""
    case = case_from_text("c.toml", CASE.format(alpha='alpha = "1 - t"'))
    from pdesolve.model.build import build_setup
    setup = build_setup(case)
    solver = Solver(setup.problem, setup.scheme, setup.mu0)
    solver.advance(1.0)
    assert solver.t == 1.0


def test_without_transport_an_expression_bounds_each_step_by_its_peak():
    """α = 5t starts at 0: the bound must look ahead over the step, or the first step would
    cross the whole output interval.  With τ > 0 (U depends on μ) the run then agrees with a
    fine fixed-Δt reference."""
    from pdesolve.model.problem import Problem

    grid = box(200)
    x, = grid.mesh()
    mu0 = np.exp(-(x - 1) ** 2 / 2)
    problem = Problem(grid, np.minimum((x + 2) ** 2, (x - 2) ** 2 - 1.0), None, "balanced",
                      Expression("5*t"), tau=0.1, transport=False)
    adaptive = Solver(problem, Scheme(order=2), mu0 / grid.integrate(mu0))
    adaptive.advance(1.0)
    reference = Solver(problem, Scheme(order=2, dt=1e-4), mu0 / grid.integrate(mu0))
    reference.advance(1.0)
    assert adaptive.steps > 10, adaptive.steps
    error = grid.integrate(np.abs(adaptive.mu - reference.mu))
    assert error < 1e-3, error


def test_a_number_and_its_constant_schedule_run_bit_for_bit_alike():
    flow = GaussianFlow(a=1.0, m0=(0.5,), s0=0.5, alpha=2.0, reaction="balanced")
    grid = box(100, 3.0)
    plain = Solver(flow.problem(grid), Scheme(order=2), flow.initial_density(grid))
    problem = flow.problem(grid)
    problem.alpha = Piecewise((0.0,), (2.0,))
    scheduled = Solver(problem, Scheme(order=2), flow.initial_density(grid))
    plain.advance(0.5)
    scheduled.advance(0.5)
    assert plain.steps == scheduled.steps and np.array_equal(plain.mu, scheduled.mu)


def test_switched_off_reaction_leaves_pure_transport():
    """After off_after the run is the transport flow from the state at t_q."""
    flow = GaussianFlow(a=1.0, m0=(0.5,), s0=0.5, alpha=OFF, reaction="balanced")
    grid = box(100, 3.0)
    solver = Solver(flow.problem(grid), Scheme(order=2), flow.initial_density(grid))
    solver.advance(0.3)
    mu_q = solver.mu.copy()
    alone = Solver(GaussianFlow(a=1.0, m0=(0.5,), s0=0.5).problem(grid), Scheme(order=2), mu_q, t0=0.3)
    solver.advance(0.6)
    alone.advance(0.6)
    assert np.array_equal(solver.mu, alone.mu)


# -- particles and networks ------------------------------------------------------------

def test_particles_use_the_mean_rate_of_each_step():
    """Birth–death events happen only while α > 0: a switched-off schedule leaves the
    population's kill/duplicate loop idle afterwards, and the step's rate is its mean α."""
    from pdesolve.model.potentials import Quadratic
    from pdesolve.particles.potential import ParticlePotential
    from pdesolve.particles.system import ParticleDynamics, ParticleSystem, default_time_step

    grid = box(64)
    rng = np.random.default_rng(1)
    potential = ParticlePotential(Quadratic((0.0,), 1.0), None, 500)
    dynamics = ParticleDynamics(alpha=OFF, transport=False)
    system = ParticleSystem(rng.normal(1.0, 0.5, (500, 1)), 1.0, potential, grid, dynamics, rng)
    assert default_time_step(system, 0.5, 1.0) == pytest.approx(
        0.5 / (2.0 * np.max(np.abs(system.values - system.values.mean()))))
    narrow_peak = ParticleSystem(system.positions, 1.0, potential, grid,
                                 ParticleDynamics(alpha=Expression("5*exp(-((t-3.3)/0.2)**2)"),
                                                  transport=False), rng)
    assert default_time_step(narrow_peak, 0.5, 8.0) == pytest.approx(
        0.5 / (5.0 * np.max(np.abs(system.values - system.values.mean()))), rel=1e-3)
    system.step(0.2, 0.2)
    assert system.alpha == pytest.approx((2.0 * 0.1) / 0.2)
    before = system.positions.copy()
    system.step(0.2, 0.4)
    assert system.alpha == 0.0 and np.array_equal(system.positions, before)


def test_network_training_uses_the_schedule():
    """The student–teacher loop with α switched off after the first steps makes no
    birth–death events after it, and the same events before it as with that constant α."""
    from pdesolve.experiments.student_teacher import StudentTeacherConfig, run_student_teacher

    base = dict(dim=5, teacher_units=2, student_units=20, batch=16, dt=0.05, steps=40, records=5,
                test_points=64)
    on = run_student_teacher(0, "birth_death", StudentTeacherConfig(alpha=1.0, **{**base, "steps": 20}))
    scheduled = run_student_teacher(0, "birth_death", StudentTeacherConfig(
        alpha=Piecewise((0.0, 1.0), (1.0, 0.0)), **base))
    assert on.events > 0 and scheduled.events == on.events


@pytest.mark.parametrize("line", ['alpha = "0.1*exp(-t/50)"', "alpha = { value = 5.0, off_after = 0.5 }",
                                  "alpha = { times = [0, 0.2], values = [1, 0.5] }", "alpha = 2.5"])
def test_a_resolved_case_with_a_schedule_loads_back_as_the_same_case(line):
    """``run --dry-run`` prints the case with every default filled in; a schedule is written
    so that it reads back as the same schedule."""
    from pdesolve.config.toml_text import case_toml

    case = case_from_text("c.toml", CASE.format(alpha=line))
    assert case_from_text("c.toml", case_toml(case)).dynamics == case.dynamics


# -- finite_n: the grid as a model of n particles --------------------------------------------

MASS = 3.0


def two_wells(finite_n=None):
    """Pure balanced birth–death, F lower at x = 2 than at x = −2, all the mass (3) starting
    near −2: the tail at +2 (density ~1e-40) is what the grid PDE grows."""
    from pdesolve.model.problem import Problem

    grid = box(200)
    x, = grid.mesh()
    potential = np.minimum((x + 2) ** 2, (x - 2) ** 2 - 1.0)
    mu0 = np.exp(-(x + 2) ** 2 / (2 * 0.3 ** 2))
    problem = Problem(grid, potential, None, "balanced", 5.0, transport=False, finite_n=finite_n)
    return grid, x, Solver(problem, Scheme(order=2), MASS * mu0 / grid.integrate(mu0))


def test_finite_n_keeps_birth_death_from_growing_tails_no_population_has():
    grid, x, pde = two_wells()
    _, _, finite = two_wells(finite_n=200)
    pde.advance(20.0)
    finite.advance(20.0)
    right = x > 0
    assert grid.integrate(pde.mu * right) > 0.99 * MASS   # the PDE moved the mass to the lower well
    assert np.all(finite.mu[right] == 0.0)                # 200 particles never get there
    assert grid.integrate(finite.mu) == pytest.approx(MASS, rel=1e-12) and finite.mu.min() >= 0.0


def test_finite_n_empties_exactly_the_cells_below_its_floor():
    from pdesolve.model.problem import FINITE_N_COUNT

    grid, x, solver = two_wells(finite_n=1000)
    before = solver.mu.copy()
    solver.step(1e-9)      # a step too short to change anything but the floor
    expected = 1000 * before * grid.cell_volume / MASS < FINITE_N_COUNT
    assert 0 < expected.sum() < expected.size
    assert np.array_equal(solver.mu == 0.0, expected | (before == 0.0))
    kept = ~expected
    assert np.allclose(solver.mu[kept], before[kept] * MASS / (MASS - grid.integrate(before * expected)),
                       rtol=1e-9)


def test_finite_n_in_a_case():
    case = case_from_text("c.toml", CASE.format(alpha="finite_n = 200"))
    assert case.dynamics.finite_n == 200
    with pytest.raises(CaseError, match="dynamics.finite_n"):
        case_from_text("c.toml", CASE.format(alpha="finite_n = 0"))
