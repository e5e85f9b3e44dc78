"""Student–teacher ReLU networks with SGD and neuron birth–death (seed §7.2, experiments/student_teacher.py)."""
import numpy as np
import pytest

from pdesolve.experiments.student_teacher import (StudentTeacherConfig, batch_estimate, birth_death_units,
                                         prior_units, record_steps, relu_network, relu_sum,
                                         run_student_teacher, student_units, teacher_units)

DIM, UNITS = 6, 12


@pytest.fixture
def problem():
    rng = np.random.default_rng(3)
    teacher = teacher_units(DIM, 3, rng)
    theta = student_units(DIM, UNITS, rng)
    x = rng.standard_normal((40, DIM))
    return teacher, theta, x, relu_sum(teacher, x)


def batch_loss(theta, x, y):
    residual = relu_network(theta, x) - y
    return 0.5 * np.mean(residual**2)


def test_teacher_units_have_unit_product_and_sign_weights():
    teacher = teacher_units(50, 10, np.random.default_rng(0))
    assert teacher.shape == (10, 51)
    assert set(np.abs(teacher[:, -1])) == {1.0}
    np.testing.assert_allclose(np.linalg.norm(teacher[:, :-1], axis=1) * np.abs(teacher[:, -1]), 1.0)


def test_network_is_the_mean_of_its_units(problem):
    _, theta, x, _ = problem
    by_hand = sum(c * np.maximum(x @ w, 0.0) for w, c in zip(theta[:, :-1], theta[:, -1])) / UNITS
    np.testing.assert_allclose(relu_network(theta, x), by_hand)


def test_gradient_matches_finite_differences(problem):
    _, theta, x, y = problem
    estimate = batch_estimate(theta, x, y)
    assert estimate.loss == pytest.approx(batch_loss(theta, x, y))
    eps = 1e-6
    numeric = np.empty_like(theta)
    for index in np.ndindex(theta.shape):
        up, down = theta.copy(), theta.copy()
        up[index] += eps
        down[index] -= eps
        numeric[index] = (batch_loss(up, x, y) - batch_loss(down, x, y)) / (2 * eps)
    # the per-unit move is n ∇_{θ_i} L_P (mean-field scaling); its c column is V̂_P(w_i)
    np.testing.assert_allclose(estimate.gradient, UNITS * numeric, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(estimate.potentials, theta[:, -1] * estimate.gradient[:, -1])


@pytest.mark.parametrize("variant", ["birth_death", "reinjection"])
def test_population_size_is_constant(problem, variant):
    _, theta, _, _ = problem
    rng = np.random.default_rng(1)
    total_events = 0
    for _ in range(50):
        potentials = rng.standard_normal(UNITS) + rng.normal(0.0, 2.0)  # net births or deaths
        theta, events = birth_death_units(theta, potentials, variant, 5.0, 0.1, rng)
        total_events += events
        assert theta.shape == (UNITS, DIM + 1)
    assert total_events > 50


def test_zero_alpha_changes_nothing():
    config = StudentTeacherConfig(dim=8, teacher_units=2, student_units=10, batch=20, dt=0.05,
                                  alpha=0.0, steps=300, records=20, test_points=200)
    plain = run_student_teacher(4, "sgd", config)
    for variant in ("birth_death", "reinjection"):
        run = run_student_teacher(4, variant, config)
        assert run.events == 0
        np.testing.assert_array_equal(run.test_loss, plain.test_loss)
        np.testing.assert_array_equal(run.units, plain.units)


def test_balanced_rates_kill_above_mean_and_clone_below():
    theta = np.arange(4 * 3, dtype=float).reshape(4, 3)
    potentials = np.array([5.0, -5.0, 4.0, -4.0])  # mean 0: units 1 and 3 duplicate, 0 and 2 die
    new, events = birth_death_units(theta, potentials, "birth_death", 1e3, 1.0, np.random.default_rng(0))
    assert events == 4
    np.testing.assert_array_equal(new, theta[[1, 1, 3, 3]])


def test_reinjected_units_carry_no_output():
    rng = np.random.default_rng(2)
    theta = student_units(DIM, UNITS, rng)
    potentials = np.where(np.arange(UNITS) < 5, 1.0, 0.0)  # units 0..4 die surely, no clone
    new, events = birth_death_units(theta, potentials, "reinjection", 1e3, 1.0, rng)
    assert events == 5 and new.shape == theta.shape
    np.testing.assert_array_equal(new[:7], theta[5:])
    assert np.all(new[7:, -1] == 0.0)
    x = rng.standard_normal((30, DIM))
    survivors_only = theta.copy()
    survivors_only[:5, -1] = 0.0
    np.testing.assert_allclose(relu_network(new, x), relu_network(survivors_only, x))


def test_prior_has_zero_output_weight_and_width_one_over_n():
    draws = prior_units(4000, 5, 50, np.random.default_rng(0))
    assert np.all(draws[:, -1] == 0.0)
    assert np.std(draws[:, :-1]) == pytest.approx(1 / 50, rel=0.03)


def test_sgd_reduces_the_loss_on_a_teacher():
    config = StudentTeacherConfig(dim=10, teacher_units=3, student_units=20, batch=50, dt=0.05,
                                  steps=3000, records=30, test_points=1000)
    run = run_student_teacher(0, "sgd", config)
    assert run.test_loss[-1] < 0.05 * run.test_loss[0]
    assert run.batch_loss[-5:].mean() < 0.05 * run.batch_loss[:3].mean()
    np.testing.assert_allclose(run.times, record_steps(3000, 30) * 0.05)


def test_runs_are_reproducible_from_the_seed():
    config = StudentTeacherConfig(dim=8, teacher_units=2, student_units=10, batch=20, dt=0.05,
                                  alpha=5.0, steps=300, records=20, test_points=200)
    first = run_student_teacher(7, "reinjection", config)
    again = run_student_teacher(7, "reinjection", config)
    other = run_student_teacher(8, "reinjection", config)
    assert first.events > 0 and first.events == again.events
    np.testing.assert_array_equal(first.batch_loss, again.batch_loss)
    np.testing.assert_array_equal(first.units, again.units)
    assert not np.array_equal(first.batch_loss, other.batch_loss)


def test_unknown_variant_is_rejected(problem):
    _, theta, _, _ = problem
    with pytest.raises(ValueError, match="variant"):
        birth_death_units(theta, np.zeros(UNITS), "gillespie", 1.0, 0.1, np.random.default_rng(0))


# -- the authors' notebook protocol (pdesolve.experiments.notebook_student_teacher) ----------

def test_notebook_loss_gradient_matches_finite_differences():
    from pdesolve.experiments.notebook_student_teacher import loss_gradient, sphere_points

    rng = np.random.default_rng(4)
    theta = rng.standard_normal((6, 4)) / 2
    x = sphere_points(20, 3, rng)
    y = rng.standard_normal(20)
    _, gradient = loss_gradient(theta, x, y)
    step = 1e-6
    for i, j in [(0, 0), (2, 1), (5, 3), (3, 3)]:
        plus, minus = theta.copy(), theta.copy()
        plus[i, j] += step
        minus[i, j] -= step
        numeric = (loss_gradient(plus, x, y)[0] - loss_gradient(minus, x, y)[0]) / (2 * step)
        assert gradient[i, j] == pytest.approx(numeric, rel=1e-6, abs=1e-9)
    assert np.allclose(np.linalg.norm(x, axis=1), 1.0)


def test_notebook_birth_death_kills_and_clones_as_described():
    from pdesolve.experiments.notebook_student_teacher import notebook_birth_death

    rng = np.random.default_rng(0)
    theta = np.column_stack((np.arange(8.0), np.arange(8.0) + 10))
    rates = np.array([2.0, 2.0, 0.0, 0.0, -2.0, 0.0, 0.0, 0.0])     # certain kills of 0, 1; clone of 4
    before = theta.copy()
    events = notebook_birth_death(theta, rates, "birth_death", rng)
    assert events == 3 and theta.shape == before.shape
    rows = {tuple(r) for r in theta}
    assert tuple(before[0]) not in rows and tuple(before[1]) not in rows     # killed, overwritten
    assert sum(np.array_equal(r, before[4]) for r in theta) == 2            # unit 4 cloned once
    prior = before.copy()
    assert notebook_birth_death(prior, rates, "prior", rng) == 2            # kills only
    assert np.all(prior[:2, -1] == 0.0) and np.array_equal(prior[2:], before[2:])
