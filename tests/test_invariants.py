"""The grid solver against formulas evaluated independently of it.

Each test recomputes a quantity from DESIGN §1 without the solver's own code path (pair
sums instead of FFTs, numpy instead of the kernels, an ODE solver instead of the exact
reaction step) over every reaction × (τ = 0, τ > 0) × (K = 0, K ≠ 0) × (mass 1,
mass ≠ 1), so that a wrong term that cancels in one configuration shows in another:

* U = F + K⋆μ + τ(log μ + 1) and the reaction rate of every variant;
* the dissipation diagnostic against the measured dE/dt along the computed flow;
* the energy against the double sum, and the network loss against ½‖f − f_μ‖²;
* the time step against the stability number's formula, and positivity at the largest
  CFL number the scheme allows, on rough data;
* invariance under μ → cμ, K → K/c (every reaction divides by the mass where it must);
* Solver.state()/restore() into a solver built from another density.
"""
import itertools
from pathlib import Path

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from pdesolve.model.build import build_setup
from pdesolve.config.case import load_case
from pdesolve.fv.diagnostics import collect, dissipation_rate, energy
from pdesolve.model.grid import Grid
from pdesolve.model.interaction import (ConvolutionInteraction, GaussianKernel, NeuronInteraction,
                                  NormalDensityKernel, direct_interaction_potential)
from pdesolve.model.problem import Problem, Scheme
from pdesolve.model.reactions import REACTIONS
from pdesolve.fv.solver import Solver

TAUS = (0.0, 0.15)
MASSES = (1.0, 2.5)
INTERACTING = (False, True)
MATRIX = list(itertools.product(REACTIONS, TAUS, INTERACTING, MASSES))
MATRIX_IDS = [f"{r}-tau{t}-{'K' if k else 'noK'}-m{m}" for r, t, k, m in MATRIX]


def gaussian(grid, mean, std):
    coords = grid.mesh()
    return np.exp(-sum((x - m) ** 2 / (2 * std ** 2) for x, m in zip(coords, mean)))


def make_problem(reaction, tau, interacting, cells=48, kernel_strength=-0.8, alpha=1.3,
                 transport=True):
    """1-D problem on [−3, 3] with an asymmetric F, so no rate vanishes by symmetry."""
    grid = Grid((-3.0,), (3.0,), (cells,), (False,))
    x, = grid.mesh()
    potential = 0.5 * x ** 2 + 0.4 * np.sin(2 * x) - 0.3
    interaction = (ConvolutionInteraction(grid, GaussianKernel(0.7, kernel_strength), workers=1)
                   if interacting else None)
    prior = gaussian(grid, (0.9,), 0.8) if reaction.startswith("reinjection") else None
    return Problem(grid, potential, interaction, reaction, alpha, tau, prior=prior,
                   transport=transport)


def initial_density(grid, mass):
    mu = gaussian(grid, (-0.7,), 0.6) + 0.3 * gaussian(grid, (1.2,), 0.4)
    return mass * mu / grid.integrate(mu)


def independent_u(problem, mu):
    """U = F + K⋆μ + τ(log μ + 1), with K⋆μ by the direct pair sum."""
    u = problem.potential.copy()
    if problem.interaction is not None:
        u += direct_interaction_potential(problem.interaction, mu)
    if problem.tau > 0:
        u += problem.tau * (np.log(mu) + 1.0)
    return u


def independent_reaction_rate(problem, mu):
    """−αR(μ) of DESIGN §1 and README "Reinjection", written out per variant."""
    grid, alpha = problem.grid, problem.alpha.value_at(0.0)
    u = independent_u(problem, mu)
    mass = grid.integrate(mu)
    if problem.reaction == "none":
        return np.zeros_like(mu)
    if problem.reaction == "balanced":
        return -alpha * (u - grid.integrate(u * mu) / mass) * mu
    if problem.reaction == "unbalanced":
        return -alpha * u * mu
    if problem.reaction == "reinjection":
        positive = grid.integrate(np.maximum(u, 0) * mu)
        negative = grid.integrate(np.maximum(-u, 0) * mu)
        return -alpha * u * mu + alpha * positive * problem.prior - alpha * negative * mu / mass
    v_bar_m = grid.integrate(u * mu)  # reinjection_deficit
    return (-alpha * u * mu + alpha * max(v_bar_m, 0.0) * problem.prior
            + alpha * min(v_bar_m, 0.0) * mu / mass)


def independent_energy(problem, mu):
    """E = Σ F μ |c| + ½ Σ_ij K_ij μ_i μ_j |c|² + τ Σ μ log μ |c| by the direct double sum."""
    grid = problem.grid
    total = grid.integrate(problem.potential * mu)
    if problem.interaction is not None:
        total += 0.5 * grid.integrate(direct_interaction_potential(problem.interaction, mu) * mu)
    if problem.tau > 0:
        total += problem.tau * grid.integrate(mu * np.log(mu))
    return total


@pytest.mark.parametrize("reaction, tau, interacting, mass", MATRIX, ids=MATRIX_IDS)
def test_u_and_reaction_rate_match_their_formulas(reaction, tau, interacting, mass):
    problem = make_problem(reaction, tau, interacting)
    mu = initial_density(problem.grid, mass)
    solver = Solver(problem, Scheme(), mu)
    u, _, rate = solver.rates()
    np.testing.assert_allclose(u, independent_u(problem, mu), rtol=1e-12, atol=1e-12)
    expected = independent_reaction_rate(problem, mu)
    np.testing.assert_allclose(rate, expected, rtol=1e-10, atol=1e-12 * np.abs(expected).max())
    assert energy(solver) == pytest.approx(independent_energy(problem, mu), rel=1e-12, abs=1e-14)


@pytest.mark.parametrize("reaction, tau, interacting, mass", MATRIX, ids=MATRIX_IDS)
def test_dissipation_matches_the_measured_energy_decay(reaction, tau, interacting, mass):
    """(E(δ) − E(0))/δ along the computed flow = the trapezoid of the dissipation
    diagnostic Σ U ∂tμ |c| at 0 and δ, up to O(δ²) and O(Δt²)."""
    problem = make_problem(reaction, tau, interacting)
    solver = Solver(problem, Scheme(dt=2e-4), initial_density(problem.grid, mass))
    e0, rate0 = independent_energy(problem, solver.mu), dissipation_rate(solver)
    delta = 4e-3
    solver.advance(delta)
    measured = (independent_energy(problem, solver.mu) - e0) / delta
    predicted = 0.5 * (rate0 + dissipation_rate(solver))
    assert measured == pytest.approx(predicted, rel=2e-4, abs=1e-6), (measured, predicted)
    if reaction in ("balanced", "none"):        # gradient flows: the energy decreases
        assert predicted < 0


@pytest.mark.parametrize("reaction", REACTIONS)
@pytest.mark.parametrize("tau", TAUS)
def test_pure_reaction_matches_an_ode_solve_with_interaction(reaction, tau):
    """No transport, K ≠ 0, mass 2.5: the splitting's reaction step against scipy's
    solution of the same ODE system dμ/dt = −αR(μ), at second order in Δt."""
    problem = make_problem(reaction, tau, True, cells=24, transport=False)
    mu0 = initial_density(problem.grid, 2.5)
    t_end = 0.5
    ode = solve_ivp(lambda _t, m: independent_reaction_rate(problem, m), (0.0, t_end), mu0,
                    method="DOP853", rtol=1e-12, atol=1e-14)
    exact = ode.y[:, -1]
    errors = []
    for dt in (0.02, 0.01, 0.005):
        solver = Solver(problem, Scheme(dt=dt), mu0)
        solver.advance(t_end)
        errors.append(problem.grid.integrate(np.abs(solver.mu - exact)))
    if reaction == "none":
        assert errors == [0.0, 0.0, 0.0]
        return
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all(orders > 1.8), (orders, errors)
    assert errors[-1] < 2e-4 * problem.grid.integrate(exact)


def test_pure_unbalanced_birth_death_with_entropy_is_exact():
    """dμ/dt = −α(F + τ(log μ + 1))μ per cell: log μ relaxes exponentially at rate ατ to
    −F/τ − 1, so log μ(t) = L∞ + (log μ₀ − L∞) e^{−ατt}."""
    alpha, tau, t_end = 1.3, 0.4, 1.5
    problem = make_problem("unbalanced", tau, False, transport=False, alpha=alpha)
    mu0 = initial_density(problem.grid, 1.7)
    limit = -problem.potential / tau - 1.0
    exact = np.exp(limit + (np.log(mu0) - limit) * np.exp(-alpha * tau * t_end))
    errors = []
    for dt in (0.05, 0.025, 0.0125):
        solver = Solver(problem, Scheme(dt=dt), mu0)
        solver.advance(t_end)
        errors.append(np.max(np.abs(solver.mu - exact) / exact))
    assert errors[-1] < 1e-4
    assert np.all(np.log2(np.array(errors[:-1]) / np.array(errors[1:])) > 1.8), errors


@pytest.mark.parametrize("reaction, tau", [(r, 0.0) for r in REACTIONS] + [("balanced", 0.15)])
def test_mass_scaling_invariance(reaction, tau):
    """μ₀ → cμ₀ with K → K/c leaves V = F + K⋆μ unchanged, so every τ = 0 reaction (and the
    balanced one for any τ, whose U − Ū ignores the shift τ log c) gives μ(t) → cμ(t),
    E → cE and dE/dt → c dE/dt: what must be divided by the mass is."""
    c = 3.0
    runs = []
    for scale in (1.0, c):
        problem = make_problem(reaction, tau, True, kernel_strength=-0.8 / scale)
        solver = Solver(problem, Scheme(dt=5e-3), initial_density(problem.grid, scale))
        solver.advance(0.3)
        runs.append((solver.mu.copy(), energy(solver), dissipation_rate(solver)))
    (mu1, e1, d1), (mu_c, e_c, d_c) = runs
    np.testing.assert_allclose(mu_c, c * mu1, rtol=1e-9, atol=1e-12 * mu_c.max())
    if tau == 0:   # with τ > 0 the entropy adds τ c log c to E
        assert e_c == pytest.approx(c * e1, rel=1e-9)
    assert d_c == pytest.approx(c * d1, rel=1e-7, abs=1e-12)


# --- the energy and the loss in two and three dimensions ----------------------------------

@pytest.mark.parametrize("cells, periodic", [((9, 7), (False, True)), ((6, 5, 4), (True, False, False))])
def test_energy_against_the_double_sum_in_2d_and_3d(cells, periodic):
    ndim = len(cells)
    grid = Grid((-2.0,) * ndim, (2.0,) * ndim, cells, periodic)
    coords = grid.mesh()
    potential = sum((a + 1) * np.cos(x) for a, x in enumerate(coords))
    problem = Problem(grid, potential, ConvolutionInteraction(grid, GaussianKernel(0.8, 1.4), workers=1),
                      "balanced", 1.0, 0.2)
    mu = 1.5 + np.random.default_rng(4).random(grid.shape)
    solver = Solver(problem, Scheme(), mu)
    assert energy(solver) == pytest.approx(independent_energy(problem, mu), rel=1e-12)


def test_neuron_form_energy_against_the_double_sum():
    grid = Grid((-3.0, -2.0), (3.0, 2.0), (10, 8), (False, False))
    z, c = grid.mesh()
    problem = Problem(grid, c * np.sin(z), NeuronInteraction(grid, NormalDensityKernel(0.5), workers=1),
                      "balanced", 1.0, 0.0)
    mu = np.random.default_rng(6).random(grid.shape)
    assert energy(Solver(problem, Scheme(), mu)) == pytest.approx(independent_energy(problem, mu),
                                                                  rel=1e-12)


def test_network_loss_is_the_mean_squared_error_of_the_network():
    """loss = ½ ∫ (f(x) − f_μ(x))² dx with f the mixture target and f_μ(x) = Σ c φ(x, z) μ |c|,
    evaluated by quadrature in x, independently of F, K and the energy."""
    cases = Path(__file__).resolve().parent.parent / "cases"
    case = load_case(cases / "mixture_gaussians.toml", ("grid.cells=[48,40]",))
    setup = build_setup(case)
    spec = case.potential
    solver = Solver(setup.problem, setup.scheme, setup.mu0)
    solver.advance(0.5)
    row = collect(solver, 0.0, None)

    def normal(x, mean, variance):
        return np.exp(-(x - mean) ** 2 / (2 * variance)) / np.sqrt(2 * np.pi * variance)

    x = np.linspace(-14.0, 14.0, 4001)
    m = len(spec["weights"])
    target = sum(w * normal(x, centre[0], var) for w, centre, var
                 in zip(spec["weights"], spec["centers"], spec["variances"])) / m
    z, c = setup.grid.mesh()
    weights = (c * solver.mu * setup.grid.cell_volume).ravel()
    network = normal(x[:, None], z.ravel()[None, :], spec["unit_variance"]) @ weights
    loss = 0.5 * np.trapezoid((target - network) ** 2, x)
    assert row["loss"] == pytest.approx(loss, rel=1e-9)
    assert row["energy"] == pytest.approx(independent_energy(setup.problem, solver.mu), rel=1e-11)


# --- the time step and positivity -----------------------------------------------------------

def independent_rate_bound(problem, mu):
    """ν/Δt = Σ_a 2 max_faces |u_a| / h_a + 2τ Σ_a 1/h_a² + α max_{μ>0} |U − s|, with
    u_a = −(V_{i+1} − V_i)/h_a over the interior faces (and the wrap face if periodic)."""
    grid = problem.grid
    v = problem.potential.copy()
    if problem.interaction is not None:
        v += direct_interaction_potential(problem.interaction, mu)
    bound = 0.0
    if problem.transport:
        for a, (h, periodic) in enumerate(zip(grid.spacing, grid.periodic)):
            if grid.cells[a] < 2:
                continue
            jumps = np.diff(v, axis=a, append=np.take(v, [0], axis=a)) if periodic else np.diff(v, axis=a)
            bound += 2.0 * (np.abs(jumps).max() / h) / h + 2.0 * problem.tau / h ** 2
    if problem.has_reaction:
        u = independent_u(problem, mu)
        mass = grid.integrate(mu)
        # every variant is −α(U − s)μ + αqμ_b (README "Reinjection" for s)
        if problem.reaction == "balanced":
            shift = grid.integrate(u * mu) / mass
        elif problem.reaction == "unbalanced":
            shift = 0.0
        elif problem.reaction == "reinjection":
            shift = -grid.integrate(np.maximum(-u, 0) * mu) / mass
        else:
            shift = min(grid.integrate(u * mu), 0.0) / mass
        bound += problem.alpha.value_at(0.0) * np.abs(u - shift)[mu > 0].max()
    return bound


@pytest.mark.parametrize("reaction", REACTIONS)
@pytest.mark.parametrize("cells, periodic", [((40,), (False,)), ((12, 9), (True, False)),
                                             ((6, 5, 7), (False, True, True))])
def test_time_step_is_cfl_over_the_stability_number(reaction, cells, periodic):
    ndim = len(cells)
    grid = Grid((-2.0,) * ndim, (1.0, 2.0, 3.0)[:ndim], cells, periodic)
    rng = np.random.default_rng(len(cells))
    potential = rng.normal(0.0, 1.0, grid.shape)
    prior = 0.5 + rng.random(grid.shape) if reaction.startswith("reinjection") else None
    problem = Problem(grid, potential, ConvolutionInteraction(grid, GaussianKernel(0.6, 2.0), workers=1),
                      reaction, 0.7, 0.05, prior=prior)
    mu = 2.0 * rng.random(grid.shape) + 0.01
    for cfl in (0.3, 1.0):
        solver = Solver(problem, Scheme(cfl=cfl), mu)
        assert solver.stable_dt() == pytest.approx(cfl / independent_rate_bound(problem, mu), rel=1e-12)


def rough_problem(ndim, tau, reaction, seed):
    """Random F, a density that is zero on a random third of the cells, an attracting K."""
    cells = {1: (64,), 2: (24, 20), 3: (10, 9, 8)}[ndim]
    grid = Grid((0.0,) * ndim, (1.0,) * ndim, cells, (False, True, False)[:ndim])
    rng = np.random.default_rng(seed)
    potential = 3.0 * rng.random(grid.shape)
    mu = rng.random(grid.shape) * (rng.random(grid.shape) > 0.33)
    prior = rng.random(grid.shape) + 0.1 if reaction.startswith("reinjection") else None
    problem = Problem(grid, potential, ConvolutionInteraction(grid, GaussianKernel(0.2, -2.0), workers=1),
                      reaction, 2.0, tau, prior=prior)
    return problem, mu / grid.integrate(mu)


@pytest.mark.parametrize("ndim", [1, 2, 3])
@pytest.mark.parametrize("order, integrator", [(1, "ssprk2"), (2, "ssprk2"), (2, "ssprk3")])
@pytest.mark.parametrize("tau, reaction", [(0.0, "none"), (0.0, "balanced"), (0.02, "unbalanced"),
                                           (0.01, "reinjection")])
def test_positivity_on_rough_data_at_the_largest_cfl(ndim, order, integrator, tau, reaction):
    """cfl = 1, the largest the scheme allows: μ ≥ 0 after every step, also for the
    lowest density relative to the peak (a scheme past its positivity limit goes below
    −1 of the peak within a few steps on this data)."""
    problem, mu0 = rough_problem(ndim, tau, reaction, seed=ndim)
    solver = Solver(problem, Scheme(order=order, integrator=integrator, cfl=1.0), mu0)
    lowest = []
    while solver.steps < 40:
        solver.step(solver.stable_dt())
        lowest.append(solver.mu.min() / solver.mu.max())
    assert min(lowest) >= 0.0, min(lowest)


# --- state and restore ---------------------------------------------------------------------

@pytest.mark.parametrize("reaction", ["balanced", "reinjection", "unbalanced"])
def test_restore_into_a_solver_built_from_another_density(reaction):
    """A solver built from an unrelated μ₀ (another mass) and given state() continues bit
    for bit as the original: the state carries everything the future depends on."""
    problem = make_problem(reaction, 0.1, True)
    original = Solver(problem, Scheme(), initial_density(problem.grid, 1.0))
    original.advance(0.2)
    state = original.state()
    other = Solver(problem, Scheme(), initial_density(problem.grid, 4.0)[::-1])
    other.advance(0.05)
    other.restore(state)
    assert other.t == original.t and other.steps == original.steps
    original.advance(0.5)
    other.advance(0.5)
    assert np.array_equal(other.mu, original.mu)
    assert (other.t, other.steps) == (original.t, original.steps)
    state["mu"][:] = 0.0   # state() is a copy: the solver is not tied to it
    assert original.mu.max() > 0


@pytest.mark.parametrize("tau", TAUS)
def test_diagnostics_row_against_its_formulas(tau):
    """collect(): mass ∫μ, energy (finite with empty cells and τ > 0), V̄ = ∫Vμ/∫μ with
    V = F + K⋆μ (no τ term), min μ, the L¹ change ∫|μ − μ_prev| (NaN without a previous μ),
    the step and Δt as given; for an empty grid V̄ = 0 and every other entry finite."""
    problem = make_problem("balanced", tau, True)
    grid = problem.grid
    mu = initial_density(grid, 2.5)
    mu[:5] = 0.0
    solver = Solver(problem, Scheme(), mu)
    previous = mu[::-1].copy()
    row = collect(solver, 0.01, previous)
    v = problem.potential + direct_interaction_potential(problem.interaction, mu)
    positive = mu > 0
    entropy = tau * grid.integrate(np.where(positive, mu * np.log(np.where(positive, mu, 1.0)), 0.0))
    expected = {"t": 0.0, "step": 0.0, "dt": 0.01, "mass": grid.integrate(mu), "min_mu": 0.0,
                "energy": grid.integrate((problem.potential + 0.5 * (v - problem.potential)) * mu) + entropy,
                "v_bar": grid.integrate(v * mu) / grid.integrate(mu),
                "l1_change": grid.integrate(np.abs(mu - previous)),
                "dissipation": grid.integrate(independent_u(problem, np.maximum(mu, 1e-300))
                                              * sum(solver.rates()[1:]))}
    assert row.keys() == expected.keys()
    for name, value in expected.items():
        assert row[name] == pytest.approx(value, rel=1e-11, abs=1e-14), name
    assert np.isnan(collect(solver, 0.01, None)["l1_change"])   # no previous snapshot
    empty = collect(Solver(problem, Scheme(), np.zeros(grid.shape)), 0.0, None)
    assert empty["v_bar"] == 0.0 and empty["mass"] == 0.0
    assert all(np.isfinite(value) for name, value in empty.items() if name != "l1_change")


# --- the solver's contract at its edges -------------------------------------------------------

def test_initial_density_must_be_a_density():
    problem = make_problem("balanced", 0.0, False)
    good = initial_density(problem.grid, 1.0)
    for bad in (np.where(np.arange(good.size) == 3, -1e-3, good), np.where(np.arange(good.size) == 3, np.nan, good),
                good[:-1]):
        with pytest.raises(ValueError):
            Solver(problem, Scheme(), bad)


def test_nothing_to_integrate_takes_one_step_to_the_end():
    """No transport and no reaction: ν = 0, the step is unbounded, t_end comes in one step."""
    problem = make_problem("none", 0.0, False, transport=False)
    solver = Solver(problem, Scheme(), initial_density(problem.grid, 1.0))
    assert solver.stable_dt() == np.inf
    solver.advance(3.0)
    assert (solver.t, solver.steps) == (3.0, 1)


@pytest.mark.parametrize("dt, t_end", [(0.1, 100.0), (0.01, 50.0), (1 / 3, 100.0)])
def test_fixed_steps_land_exactly_on_a_late_end_time(dt, t_end):
    """Many fixed steps accumulate round-off in t (here t falls short of t_end by a little
    more than Δt before the last step): the last step takes the remainder, t lands on t_end
    exactly and no sliver of a step is added, with a tolerance relative to t_end."""
    problem = make_problem("none", 0.0, False, cells=4, transport=False)
    solver = Solver(problem, Scheme(dt=dt), initial_density(problem.grid, 1.0))
    solver.advance(t_end)
    assert solver.t == t_end and solver.steps == round(t_end / dt)


def test_a_fixed_step_is_refused_just_above_the_stability_limit():
    """ν = Δt · bound: Δt at the limit (cfl = 1) is taken, 1.5× the limit is refused with a
    message that states the limit."""
    from pdesolve.fv.solver import StabilityError
    problem = make_problem("balanced", 0.1, True)
    mu0 = initial_density(problem.grid, 1.0)
    limit = Solver(problem, Scheme(cfl=1.0), mu0).stable_dt()
    Solver(problem, Scheme(dt=limit * (1 - 1e-9)), mu0).advance(limit)
    with pytest.raises(StabilityError, match=f"exceeds the stability limit {limit:.4g} "
                                             r"\(stability number 1\.5 > 1\)"):
        Solver(problem, Scheme(dt=1.5 * limit), mu0).advance(1.0)


def test_max_steps_stops_after_exactly_that_many_steps():
    from pdesolve.fv.solver import StabilityError
    problem = make_problem("balanced", 0.0, False)
    solver = Solver(problem, Scheme(dt=1e-3, max_steps=5), initial_density(problem.grid, 1.0))
    with pytest.raises(StabilityError, match="max_steps = 5 reached"):
        solver.advance(1.0)
    assert solver.steps == 5


def test_the_last_step_is_shortened_to_end_on_time():
    problem = make_problem("balanced", 0.0, False)
    solver = Solver(problem, Scheme(dt=0.003), initial_density(problem.grid, 1.0))
    solver.advance(0.01)
    assert (solver.t, solver.steps) == (0.01, 4)


def test_strang_splitting_is_second_order_in_time_with_an_interaction():
    """K ≠ 0 and τ > 0: V is re-evaluated at every SSP stage and after every sub-step (a
    stale V in any of them makes the splitting first order)."""
    problem = make_problem("balanced", 0.1, True, cells=64)
    mu0 = initial_density(problem.grid, 1.0)
    results = []
    for dt in (8e-3, 4e-3, 2e-3, 1e-3):
        solver = Solver(problem, Scheme(dt=dt), mu0)
        solver.advance(0.4)
        results.append(solver.mu.copy())
    differences = [problem.grid.integrate(np.abs(a - b)) for a, b in zip(results, results[1:])]
    orders = np.log2(np.array(differences[:-1]) / np.array(differences[1:]))
    assert np.all(orders > 1.85), (orders, differences)


@pytest.mark.parametrize("reaction", REACTIONS)
def test_an_empty_density_stays_empty_and_finite(reaction):
    problem = make_problem(reaction, 0.0, True)
    solver = Solver(problem, Scheme(dt=0.01), np.zeros(problem.grid.shape))
    solver.advance(0.05)
    assert np.all(solver.mu == 0.0)


def test_reaction_factors_stay_finite_where_the_density_is_zero():
    """Balanced birth–death without transport on a steep F, μ₀ on three cells: the step is
    bounded by the rates on the support, while far from it α Δt (F − s) reaches thousands;
    the empty cells must stay exactly 0 (no e^{+2500} · 0), the support keeps the mass."""
    grid = Grid((-10.0,), (10.0,), (200,), (False,))
    x, = grid.mesh()
    problem = Problem(grid, 5000.0 * x ** 2, None, "balanced", 1.0, 0.0, transport=False)
    mu0 = np.where(np.abs(x) < 0.15, 1.0, 0.0)
    solver = Solver(problem, Scheme(), mu0 / grid.integrate(mu0))
    solver.advance(0.05)
    assert np.all(np.isfinite(solver.mu)) and np.all(solver.mu[np.abs(x) >= 0.15] == 0.0)
    assert grid.integrate(solver.mu) == pytest.approx(1.0, rel=1e-12)
