"""The JAX backend (#14): the same scheme as the Numba backend to round-off, on every exact-solution
problem and every shipped case, with the same measured orders; its runs resume bit for bit; its
batched ensembles equal single runs; and without JAX a case asking for it is refused in one line.

Runs on JAX's CPU device (CI installs the ``jax`` extra); nothing here needs a GPU.
"""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("jax")

from test_diagnostics_cadence import CASE  # noqa: E402
from test_exact_solutions import box, fitted_order, solve_gaussian  # noqa: E402

from pdesolve.analysis.exact import GaussianFlow  # noqa: E402
from pdesolve.config.case import case_from_text, load_case  # noqa: E402
from pdesolve.config.shipped import shipped_cases  # noqa: E402
from pdesolve.fv.backends.jax.ensemble import Ensemble  # noqa: E402
from pdesolve.fv.solver import Solver, StabilityError  # noqa: E402
from pdesolve.model.build import build_setup  # noqa: E402
from pdesolve.model.grid import Grid  # noqa: E402
from pdesolve.model.interaction import GaussianKernel, NeuronInteraction, NormalDensityKernel  # noqa: E402
from pdesolve.model.problem import Problem, Scheme  # noqa: E402
from pdesolve.model.schedule import Expression, Piecewise  # noqa: E402

TOLERANCE = 1e-11   # the bound on max|μ_jax − μ_numba| / max|μ_numba|


def relative_difference(a, b) -> float:
    return float(np.max(np.abs(a - b)) / np.max(np.abs(a)))


def numba_then_jax(problem: Problem, scheme: Scheme, mu0, steps: int = 100):
    """The Numba and the JAX solver after ``steps`` steps of the Numba solver's Δt sequence,
    each step as ``advance`` takes it (``stable_dt`` first, which hands the JAX step a fresh V);
    also the largest relative difference of the two backends' stable Δt over the steps."""
    reference = Solver(problem, scheme, mu0)
    candidate = Solver(problem, Scheme(**{**scheme.__dict__, "backend": "jax"}), mu0)
    worst_dt = 0.0
    for _ in range(steps):
        dt = reference.stable_dt()
        worst_dt = max(worst_dt, abs(candidate.stable_dt() / dt - 1.0))
        reference.step(dt)
        candidate.step(dt)
    return reference, candidate, worst_dt


def gaussian_start(grid: Grid, centre=0.3, width=0.5):
    mesh = grid.mesh()
    mu = np.exp(-sum((x - centre) ** 2 for x in mesh) / width)
    return mu / grid.integrate(mu)


def quadratic_f(grid: Grid):
    return 0.5 * sum(x ** 2 for x in grid.mesh())


def _flow_problem(flow: GaussianFlow, grid: Grid):
    return flow.problem(grid), flow.initial_density(grid)


def _custom(grid, **kw):
    prior = np.ones(grid.shape) if kw.get("reaction", "").startswith("reinjection") else None
    return Problem(grid, quadratic_f(grid), prior=prior, **kw), gaussian_start(grid)


PROBLEMS = {
    # the exact Gaussian flows of DESIGN §3
    "1d-transport": lambda: _flow_problem(GaussianFlow(a=1.0, m0=(0.5,), s0=0.5), box(1, 200, 3.0)),
    "1d-balanced": lambda: _flow_problem(
        GaussianFlow(a=1.0, m0=(0.5,), s0=0.5, alpha=1.0, reaction="balanced"), box(1, 200, 3.0)),
    "1d-unbalanced": lambda: _flow_problem(
        GaussianFlow(a=1.0, m0=(0.5,), s0=0.5, alpha=1.0, reaction="unbalanced"), box(1, 200, 3.0)),
    "1d-tau": lambda: _flow_problem(GaussianFlow(a=1.0, m0=(0.5,), s0=0.5, tau=0.1), box(1, 100, 3.0)),
    "1d-no-transport": lambda: _flow_problem(
        GaussianFlow(a=1.0, m0=(0.5,), s0=0.5, alpha=2.0, reaction="balanced", transport=False),
        box(1, 100, 3.0)),
    "2d-quadratic-interaction": lambda: _flow_problem(
        GaussianFlow(a=1.0, m0=(0.5, -0.4), s0=0.5, alpha=1.0, b=0.5, reaction="balanced"),
        box(2, 32, 3.0)),
    "3d-balanced": lambda: _flow_problem(
        GaussianFlow(a=1.0, m0=(0.3, -0.2, 0.1), s0=0.6, alpha=1.0, reaction="balanced"),
        box(3, 12, 3.0)),
    # what the exact flows do not reach: kernels, periodic and mixed walls, refills, schedules
    "2d-periodic-gaussian-kernel": lambda: _custom(
        box(2, 32, 3.0, periodic=True), interaction=GaussianKernel(0.8, 1.0), reaction="balanced"),
    "2d-mixed-walls-attractive": lambda: _custom(
        Grid(-3.0, 3.0, (24, 30), (True, False)), interaction=GaussianKernel(0.7, -0.5),
        reaction="unbalanced", tau=0.02),
    "1d-reinjection": lambda: _custom(box(1, 120, 3.0), reaction="reinjection",
                                      interaction=GaussianKernel(0.5, 0.5)),
    "1d-reinjection-deficit": lambda: _custom(box(1, 120, 3.0), reaction="reinjection_deficit"),
    "1d-finite-n": lambda: _custom(box(1, 200, 4.0), reaction="balanced", alpha=3.0, finite_n=50),
    "1d-piecewise-alpha": lambda: _custom(box(1, 100, 3.0), reaction="balanced",
                                          alpha=Piecewise((0.0, 0.01), (0.0, 2.0))),
    "1d-expression-alpha": lambda: _custom(box(1, 100, 3.0), reaction="unbalanced",
                                           alpha=Expression("1 + sin(20*t)")),
    "2d-neuron": lambda: _neuron(),
}


def _neuron():
    grid = Grid((-2.0, -1.5), (2.0, 1.5), (24, 16))
    return (Problem(grid, quadratic_f(grid), interaction=NeuronInteraction(grid, NormalDensityKernel(1.0)),
                    reaction="balanced"), gaussian_start(grid, 0.2, 0.6))


SCHEMES = {"mc": Scheme(), "order1": Scheme(order=1), "minmod": Scheme(theta=1.0),
           "extremum-ssprk3": Scheme(theta=0.0, integrator="ssprk3"),
           "lie": Scheme(splitting="lie", cfl=0.9)}


@pytest.mark.parametrize("name", PROBLEMS)
def test_jax_equals_numba_after_100_steps_of_the_same_dt_sequence(name):
    problem, mu0 = PROBLEMS[name]()
    reference, candidate, worst_dt = numba_then_jax(problem, Scheme(), mu0)
    assert relative_difference(reference.mu, candidate.mu) <= TOLERANCE
    assert worst_dt <= 1e-12
    assert candidate.energy == pytest.approx(reference.energy, rel=1e-11, abs=1e-13)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_every_reconstruction_integrator_and_splitting_agrees(scheme):
    problem, mu0 = _custom(Grid(-3.0, 3.0, (20, 18), (False, True)),
                           interaction=GaussianKernel(0.8, 0.5), reaction="balanced", tau=0.01)
    reference, candidate, _ = numba_then_jax(problem, SCHEMES[scheme], mu0)
    assert relative_difference(reference.mu, candidate.mu) <= TOLERANCE


@pytest.mark.parametrize("name", sorted(shipped_cases()))
def test_every_shipped_case_agrees_over_its_first_steps(name):
    setup = build_setup(load_case(shipped_cases()[name]))
    reference, candidate, worst_dt = numba_then_jax(setup.problem, setup.scheme, setup.mu0, steps=10)
    assert relative_difference(reference.mu, candidate.mu) <= TOLERANCE
    assert worst_dt <= 1e-12


def test_the_diagnostics_queries_agree():
    problem, mu0 = _custom(box(2, 24, 3.0), interaction=GaussianKernel(0.8, 0.5),
                           reaction="reinjection", tau=0.05)
    reference, candidate, _ = numba_then_jax(problem, Scheme(), mu0, steps=10)
    for a, b in zip(reference.rates(), candidate.rates()):
        assert relative_difference(a, b) <= TOLERANCE
    assert relative_difference(reference.U, candidate.U) <= TOLERANCE
    assert relative_difference(reference.potential(), candidate.potential()) <= TOLERANCE
    assert relative_difference(reference.potential(mu0), candidate.potential(mu0)) <= TOLERANCE


@pytest.mark.parametrize("ndim, cells", [(1, [50, 100, 200, 400]), (2, [24, 48, 96])])
def test_the_measured_order_is_the_numba_backends(ndim, cells):
    flow = GaussianFlow(a=1.0, m0=(0.5, -0.3)[:ndim], s0=0.5, alpha=1.0, reaction="balanced")
    orders = {}
    for backend in ("numba", "jax"):
        errors = [solve_gaussian(flow, box(ndim, n, 3.0), Scheme(backend=backend), 0.5,
                                 check_steps=backend == "jax")[1] for n in cells]
        orders[backend] = fitted_order(6.0 / np.array(cells), errors)
    assert orders["jax"] >= 1.7
    assert orders["jax"] == pytest.approx(orders["numba"], abs=1e-8)


def test_a_state_restored_on_the_jax_backend_continues_bit_for_bit():
    problem, mu0 = _custom(box(2, 24, 3.0), interaction=GaussianKernel(0.8, 0.5), reaction="balanced")
    scheme = Scheme(backend="jax")
    straight = Solver(problem, scheme, mu0)
    straight.advance(0.1)
    saved = straight.state()
    straight.advance(0.2)
    resumed = Solver(problem, scheme, mu0)
    resumed.restore(saved)
    resumed.advance(0.2)
    assert np.array_equal(resumed.mu, straight.mu) and resumed.steps == straight.steps


def test_an_interrupted_jax_run_resumes_bit_for_bit(tmp_path, monkeypatch):
    from pdesolve.drive.grid_run import resume_case, run_case
    from pdesolve.drive.signals import RunInterrupted
    from pdesolve.io.grid_result import read_result
    overrides = ("scheme.backend=jax", "output.checkpoint_steps=5")
    case = case_from_text(tmp_path / "case.toml", CASE, overrides)
    run_case(case, tmp_path / "ref.h5", progress=False, overrides=overrides)
    reference = read_result(tmp_path / "ref.h5")
    stop = {"signum": None}
    step = Solver.step

    def stepping(self, dt):
        step(self, dt)
        if self.steps == 23:
            stop["signum"] = 2
    monkeypatch.setattr(Solver, "step", stepping)
    with pytest.raises(RunInterrupted):
        run_case(case, tmp_path / "cut.h5", progress=False, stop=stop, overrides=overrides)
    monkeypatch.setattr(Solver, "step", step)
    resume_case(case, tmp_path / "cut.h5", progress=False, overrides=overrides)
    resumed = read_result(tmp_path / "cut.h5")
    assert np.array_equal(resumed.mu, reference.mu)
    for name, values in reference.diagnostics.items():
        if name != "wall_time":
            assert np.array_equal(resumed.diagnostics[name], values, equal_nan=True), name


def test_the_backend_option_is_the_scheme_key(tmp_path):
    from pdesolve.cli import main
    from pdesolve.io.grid_result import read_result
    (tmp_path / "case.toml").write_text(CASE)
    assert main(["run", str(tmp_path / "case.toml"), "-o", str(tmp_path / "a.h5"), "-q",
                 "--backend", "jax"]) == 0
    assert main(["run", str(tmp_path / "case.toml"), "-o", str(tmp_path / "b.h5"), "-q",
                 "--set", "scheme.backend=jax"]) == 0
    assert np.array_equal(read_result(tmp_path / "a.h5").mu, read_result(tmp_path / "b.h5").mu)


def test_on_the_cpu_a_subnormal_tail_is_flushed_and_only_the_step_bound_notices():
    """XLA's CPU backend flushes subnormal μ to zero (JAX issue #16200): μ still agrees to
    round-off relative to its maximum, but the largest reaction rate, over the cells with
    μ > 0, then skips cells the Numba backend counts, and the stable Δt differs (the backend
    docstring and README quote this case).  A canary: if JAX stops flushing, this fails."""
    import jax
    if jax.devices()[0].platform != "cpu":
        pytest.skip("only XLA's CPU backend flushes float64 subnormals")
    grid = box(1, 200, 3.0)
    x, = grid.mesh()
    mu0 = np.exp(-(x - 0.3) ** 2 / 0.015)
    assert np.any((mu0 > 0) & (mu0 < np.finfo(float).tiny))
    problem = Problem(grid, 0.5 * (x - 1.5) ** 2, reaction="balanced", alpha=5.0)
    reference, candidate, worst_dt = numba_then_jax(problem, Scheme(), mu0, steps=20)
    assert relative_difference(reference.mu, candidate.mu) <= TOLERANCE
    assert np.sum(candidate.mu > 0) < np.sum(reference.mu > 0)
    assert 1e-4 < worst_dt < 1e-2


def test_the_solver_keeps_its_own_copy_and_a_host_interaction_is_refused():
    from pdesolve.model.interaction import NoInteraction
    grid = box(2, 256, 3.0)
    mu0 = gaussian_start(grid)
    solvers = [Solver(Problem(grid, quadratic_f(grid)), Scheme(backend="jax"), mu0) for _ in range(4)]
    mu0[:] = 0.0
    assert all(s.mu.max() > 0 for s in solvers)
    small = box(1, 16, 1.0)
    plain = Solver(Problem(small, quadratic_f(small), interaction=NoInteraction(small)),
                   Scheme(backend="jax"), gaussian_start(small))
    assert np.array_equal(plain.potential(), quadratic_f(small))

    class HostOnly:
        def potential(self, mu, out):
            out[...] = 0.0
    with pytest.raises(ValueError, match="needs a ConvolutionInteraction or a NeuronInteraction"):
        Solver(Problem(small, quadratic_f(small), interaction=HostOnly()), Scheme(backend="jax"),
               gaussian_start(small))


def test_an_ensemble_member_equals_its_single_run_and_alpha_varies_across_members():
    """Members of different mass (each keeps its own, and its own finite-n floor) and α given
    per member over a problem whose own α is 0."""
    grid = Grid(-3.0, 3.0, (24, 20), (False, True))
    starts = np.array([mass * gaussian_start(grid, c) for mass, c in ((1.0, 0.3), (50.0, -0.2), (0.2, 0.5))])
    alphas = (0.5, 1.0, 3.0)
    kernel = GaussianKernel(0.8, 0.5)
    problem = Problem(grid, quadratic_f(grid), interaction=kernel, reaction="balanced", alpha=0.0,
                      finite_n=200)
    ensemble = Ensemble(problem, Scheme(dt=2e-3), starts, alphas)
    for _ in range(50):
        ensemble.step(2e-3)
    finals = ensemble.mu
    for member, alpha in enumerate(alphas):
        single = Solver(Problem(grid, quadratic_f(grid), interaction=kernel, reaction="balanced",
                                alpha=alpha, finite_n=200), Scheme(dt=2e-3), starts[member])
        for _ in range(50):
            single.step(2e-3)
        assert relative_difference(single.mu, finals[member]) <= TOLERANCE
        assert grid.integrate(finals[member]) == pytest.approx(grid.integrate(starts[member]), rel=1e-13)
        assert np.array_equal(single.mu == 0, finals[member] == 0)
    assert not np.allclose(finals[0], finals[2] / 0.2)
    with pytest.raises(ValueError, match="the reaction is none"):
        Ensemble(Problem(grid, quadratic_f(grid), reaction="none"), Scheme(), starts, alphas)


def test_the_ensemble_step_is_the_smallest_member_step_and_a_fixed_dt_is_checked():
    grid = box(1, 80, 3.0)
    starts = np.array([gaussian_start(grid, c) for c in (0.0, 1.0)])
    problem = Problem(grid, quadratic_f(grid), reaction="balanced")
    ensemble = Ensemble(problem, Scheme(), starts, (1.0, 40.0))
    singles = [Solver(Problem(grid, quadratic_f(grid), reaction="balanced", alpha=a), Scheme(), m)
               for a, m in zip((1.0, 40.0), starts)]
    assert ensemble.stable_dt() == pytest.approx(min(s.stable_dt() for s in singles), rel=1e-12)
    ensemble.advance(0.05)
    assert ensemble.t == 0.05 and np.all(ensemble.mu >= 0)
    with pytest.raises(StabilityError, match="exceeds the stability limit"):
        Ensemble(problem, Scheme(dt=0.5), starts).stable_dt()
    with pytest.raises(ValueError, match="2 values of alpha for 3 members"):
        Ensemble(problem, Scheme(), np.concatenate([starts, starts[:1]]), (1.0, 2.0))


def test_the_gradient_through_the_steps_is_the_central_difference_of_the_same_run():
    from pdesolve.fv.backends.jax.sensitivity import Sensitivity
    problem, mu0 = _custom(box(1, 40, 3.0), interaction=GaussianKernel(0.6, 0.8), reaction="balanced",
                           tau=0.02, alpha=1.5)
    sensitivity = Sensitivity(problem, Scheme(dt=4e-3), mu0, 30)
    value, d_alpha, d_strength = sensitivity.gradient(1.5)
    reference = Solver(problem, Scheme(dt=4e-3), mu0)
    for _ in range(30):
        reference.step(4e-3)
    assert value == pytest.approx(reference.energy, rel=1e-12)
    h = 1e-5
    assert d_alpha == pytest.approx((sensitivity.energy(1.5 + h) - sensitivity.energy(1.5 - h)) / (2 * h),
                                    rel=1e-6)
    assert d_strength == pytest.approx(
        (sensitivity.energy(1.5, 1 + h) - sensitivity.energy(1.5, 1 - h)) / (2 * h), rel=1e-6)
    assert abs(d_alpha) > 1e-4 and abs(d_strength) > 1e-3
    # at α = 0 (a problem without birth–death): the derivative of switching it on
    off = Sensitivity(_custom(box(1, 40, 3.0), interaction=GaussianKernel(0.6, 0.8), reaction="balanced",
                              tau=0.02, alpha=0.0)[0], Scheme(dt=4e-3), mu0, 30)
    _, at_zero, _ = off.gradient(0.0)
    assert at_zero == pytest.approx((off.energy(h) - off.energy(0.0)) / h, rel=1e-3)
    assert at_zero == pytest.approx(off.gradient(1e-9)[1], rel=1e-6)
    with pytest.raises(ValueError, match="fixed time step"):
        Sensitivity(problem, Scheme(), mu0, 30)
    with pytest.raises(StabilityError, match="exceeds the stability limit"):
        Sensitivity(problem, Scheme(dt=0.5), mu0, 3).gradient(1.5)
