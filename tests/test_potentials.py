import math

import numpy as np
import pytest
from scipy import integrate

from pdesolve.model.grid import Grid
from pdesolve.model.potentials import (ArrayPotential, CallablePotential, DoubleWell,
                                 ExpressionPotential, MixtureTarget, MultiWell, Potential,
                                 Quadratic, ZeroPotential, potential_from_spec)

RNG = np.random.default_rng(1)


def random_points(ndim, n=40):
    return [RNG.uniform(-2.0, 2.0, size=n) for _ in range(ndim)]


def finite_difference_gradient(potential, points, h=1e-6):
    result = []
    for a in range(len(points)):
        plus = [p + h * (b == a) for b, p in enumerate(points)]
        minus = [p - h * (b == a) for b, p in enumerate(points)]
        result.append((potential(*plus) - potential(*minus)) / (2 * h))
    return result


def assert_gradient_matches(potential, points, rtol=1e-6, atol=1e-7):
    analytic = potential.gradient(*points)
    assert len(analytic) == potential.ndim
    for got, want in zip(analytic, finite_difference_gradient(potential, points)):
        assert got.shape == points[0].shape
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_quadratic(ndim):
    center = RNG.normal(size=ndim)
    stiffness = RNG.uniform(0.5, 2.0, size=ndim)
    pot = Quadratic(center, stiffness)
    pts = random_points(ndim)
    want = sum(0.5 * k * (p - c) ** 2 for p, c, k in zip(pts, center, stiffness))
    np.testing.assert_allclose(pot(*pts), want, rtol=1e-14)
    assert_gradient_matches(pot, pts)


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_double_well(ndim):
    center = RNG.normal(size=ndim) * 0.3
    pot = DoubleWell(center, radius=0.8, depth=1.7)
    pts = random_points(ndim)
    want = sum(1.7 * ((p - c) ** 2 - 0.64) ** 2 / 0.64 ** 2 for p, c in zip(pts, center))
    np.testing.assert_allclose(pot(*pts), want, rtol=1e-13)
    assert_gradient_matches(pot, pts, rtol=1e-6, atol=1e-6)
    # minima F = 0 at c ± r on every axis, barrier = depth per axis at the centre
    np.testing.assert_allclose(pot(*(center + 0.8)), 0.0, atol=1e-14)
    np.testing.assert_allclose(pot(*center), 1.7 * ndim)


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_multi_well(ndim):
    period = RNG.uniform(0.5, 2.0, size=ndim)
    tilt = RNG.normal(size=ndim)
    pot = MultiWell(period, depth=0.7, tilt=tilt)
    pts = random_points(ndim)
    want = sum(0.7 * (1 - np.cos(2 * np.pi * p / q)) + t * p for p, q, t in zip(pts, period, tilt))
    np.testing.assert_allclose(pot(*pts), want, rtol=1e-13, atol=1e-14)
    assert_gradient_matches(pot, pts)


@pytest.mark.parametrize("ndim, text, reference", [
    (1, "x**4 - 2*x**2", lambda x: x**4 - 2 * x**2),
    (2, "sin(x)*exp(-y**2) + 0.5*(x**2 + y**2)",
     lambda x, y: np.sin(x) * np.exp(-y**2) + 0.5 * (x**2 + y**2)),
    (3, "x*y + cos(z) * sqrt(1 + x**2)", lambda x, y, z: x * y + np.cos(z) * np.sqrt(1 + x**2)),
])
def test_expression_potential(ndim, text, reference):
    pot = ExpressionPotential(text, ndim)
    pts = random_points(ndim)
    np.testing.assert_allclose(pot(*pts), reference(*pts), rtol=1e-14, atol=1e-14)
    assert_gradient_matches(pot, pts)


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_callable_potential_gradient(ndim):
    def fn(*x):
        return sum(np.sin(xa) * (a + 1) for a, xa in enumerate(x)) + x[0] ** 3

    pot = CallablePotential(fn, ndim)
    pts = random_points(ndim)
    np.testing.assert_allclose(pot(*pts), fn(*pts))
    exact = [np.cos(xa) * (a + 1) + (3 * x_0 ** 2 if a == 0 else 0.0)
             for a, (xa, x_0) in enumerate(zip(pts, [pts[0]] * ndim))]
    for got, want in zip(pot.gradient(*pts), exact):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


def test_zero_potential():
    pot = ZeroPotential(2)
    x, y = np.zeros((3, 1)), np.ones(4)
    assert pot(x, y).shape == (3, 4) and not pot(x, y).any()
    assert all(g.shape == (3, 4) and not g.any() for g in pot.gradient(x, y))
    assert pot.loss_offset is None


@pytest.mark.parametrize("periodic", [False, True])
def test_array_potential_exact_at_centres_and_multilinear_between(periodic):
    grid = Grid((-1.0, 0.0), (1.0, 2.0), (20, 16), (periodic, periodic))
    mesh = grid.mesh()
    values = 1.5 * mesh[0] - 0.5 * mesh[1] + 0.25 * mesh[0] * mesh[1]
    pot = ArrayPotential(grid, values)
    np.testing.assert_array_equal(pot.on_grid(grid), values)
    np.testing.assert_array_equal(pot(*mesh), values)
    assert pot.ndim == 2
    # a bilinear function is reproduced exactly between interior centres
    x = RNG.uniform(grid.axes[0][0], grid.axes[0][-1], 30)
    y = RNG.uniform(grid.axes[1][0], grid.axes[1][-1], 30)
    np.testing.assert_allclose(pot(x, y), 1.5 * x - 0.5 * y + 0.25 * x * y, rtol=1e-12)


def test_array_potential_gradient_is_centred_difference():
    grid = Grid((0.0,), (2 * np.pi,), (200,), (True,))
    pot = ArrayPotential(grid, np.sin(grid.axes[0]))
    h = grid.spacing[0]
    (g,) = pot.gradient(grid.axes[0])
    # centred difference of sin is cos · sin(h)/h, exactly, on a periodic grid
    np.testing.assert_allclose(g, np.cos(grid.axes[0]) * np.sin(h) / h, atol=1e-12)
    x = RNG.uniform(0, 2 * np.pi, 50)
    np.testing.assert_allclose(pot.gradient(x)[0], np.cos(x), atol=5e-4)
    np.testing.assert_allclose(pot(x), np.sin(x), atol=2e-4)


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_array_potential_gradient_converges_in_every_dimension(ndim):
    cells = {1: 400, 2: 120, 3: 40}[ndim]
    grid = Grid((-2.0,) * ndim, (2.0,) * ndim, (cells,) * ndim, (False,) * ndim)
    exact = ExpressionPotential(" + ".join(f"sin({n})" for n in "xyz"[:ndim]), ndim)
    pot = ArrayPotential(grid, exact.on_grid(grid))
    pts = [RNG.uniform(-1.5, 1.5, 25) for _ in range(ndim)]
    np.testing.assert_allclose(pot(*pts), exact(*pts), atol=5 / cells ** 2 * ndim)
    for got, want in zip(pot.gradient(*pts), exact.gradient(*pts)):
        np.testing.assert_allclose(got, want, atol=20 / cells ** 2 * ndim)


def test_array_potential_clamps_beyond_walls():
    grid = Grid((0.0,), (1.0,), (10,), (False,))
    pot = ArrayPotential(grid, np.arange(10.0))
    np.testing.assert_array_equal(pot(np.array([-5.0, 0.0, 1.0, 7.0])), [0.0, 0.0, 9.0, 9.0])


def test_on_grid_is_contiguous_float64_and_checks_dimension():
    grid = Grid((0.0, 0.0), (1.0, 2.0), (5, 7), (False, True))
    pot = Quadratic([0.5, 1.0], [1.0, 2.0])
    values = pot.on_grid(grid)
    assert values.shape == (5, 7) and values.dtype == np.float64 and values.flags.c_contiguous
    x, y = grid.mesh()
    np.testing.assert_allclose(values, 0.5 * (x - 0.5) ** 2 + (y - 1.0) ** 2)
    with pytest.raises(ValueError):
        Quadratic([0.0], [1.0]).on_grid(grid)


# ---- mixture target (seed §7.1) -------------------------------------------------------

NOTEBOOK = dict(centers=[[-2.0], [0.0], [2.0]], variances=[0.5, 1.0, 0.5],
                weights=[1.0, -2.0, 1.0], unit_variance=0.5)


def normal_1d(x, mean, var):
    return np.exp(-(x - mean) ** 2 / (2 * var)) / np.sqrt(2 * np.pi * var)


def test_mixture_target_matches_the_notebook_formula():
    pot = MixtureTarget(**NOTEBOOK)
    x = np.linspace(-4, 4, 50)
    want = (normal_1d(x, -2, 0.5) - 2 * normal_1d(x, 0, 1.0) + normal_1d(x, 2, 0.5)) / 3
    np.testing.assert_allclose(pot.target(x), want, rtol=1e-14)
    assert pot.ndim == 2 and pot.input_dim == 1


def test_mixture_fhat_is_minus_the_projection_of_the_target_on_a_unit():
    pot = MixtureTarget(**NOTEBOOK)
    for z in (-2.3, -0.4, 0.0, 1.1, 3.0):
        quad, _ = integrate.quad(lambda x: pot.target(x) * normal_1d(x, z, 0.5), -np.inf, np.inf)
        assert pot.fhat(z) == pytest.approx(-quad, rel=1e-9, abs=1e-12)
        for c in (-1.5, 0.7):
            assert pot(z, c) == pytest.approx(-c * quad, rel=1e-9, abs=1e-12)


def test_mixture_loss_offset_is_half_the_squared_norm_of_the_target():
    pot = MixtureTarget(**NOTEBOOK)
    quad, _ = integrate.quad(lambda x: 0.5 * pot.target(x) ** 2, -np.inf, np.inf)
    assert pot.loss_offset == pytest.approx(quad, rel=1e-10)


def test_mixture_loss_offset_in_two_input_dimensions():
    pot = MixtureTarget([[0.0, 1.0], [1.0, -0.5]], [0.3, 0.6], [1.0, -0.7], 0.2)
    assert pot.ndim == 3
    x = np.linspace(-5, 5, 801)
    X, Y = np.meshgrid(x, x, indexing="ij")
    quad = 0.5 * np.sum(pot.target(X, Y) ** 2) * (x[1] - x[0]) ** 2
    assert pot.loss_offset == pytest.approx(quad, rel=1e-8)
    # f̂ at one z by the same quadrature
    z = (0.4, 0.2)
    phi = np.exp(-((X - z[0]) ** 2 + (Y - z[1]) ** 2) / (2 * 0.2)) / (2 * np.pi * 0.2)
    fhat = -np.sum(pot.target(X, Y) * phi) * (x[1] - x[0]) ** 2
    assert pot.fhat(*z) == pytest.approx(fhat, rel=1e-8)


@pytest.mark.parametrize("input_dim", [1, 2])
def test_mixture_gradient_matches_finite_differences(input_dim):
    centers = RNG.normal(size=(3, input_dim))
    pot = MixtureTarget(centers, [0.4, 0.9, 0.6], [1.0, -2.0, 0.5], 0.3)
    pts = random_points(input_dim + 1)
    assert_gradient_matches(pot, pts, rtol=1e-6, atol=1e-8)
    # ∂F/∂c = f̂(z)
    np.testing.assert_allclose(pot.gradient(*pts)[-1], pot.fhat(*pts[:-1]), rtol=1e-14)


def test_mixture_energy_plus_offset_is_the_network_loss():
    # one unit (z, c): ½‖f − c φ(·, z)‖² = ½‖f‖² + c f̂(z) + ½ c² ‖φ‖²
    pot = MixtureTarget(**NOTEBOOK)
    z, c = 0.3, -1.2
    quad, _ = integrate.quad(lambda x: 0.5 * (pot.target(x) - c * normal_1d(x, z, 0.5)) ** 2,
                             -np.inf, np.inf)
    unit_norm2 = 1 / math.sqrt(4 * math.pi * 0.5)
    assert pot.loss_offset + pot(z, c) + 0.5 * c**2 * unit_norm2 == pytest.approx(quad, rel=1e-9)


# ---- from spec -------------------------------------------------------------------------

@pytest.mark.parametrize("spec, ndim, expected", [
    ({"kind": "none"}, 2, ZeroPotential(2)),
    ({"kind": "quadratic", "center": [0.5, -1.0], "stiffness": [2.0, 3.0]}, 2,
     Quadratic([0.5, -1.0], [2.0, 3.0])),
    ({"kind": "quadratic", "center": 0.5, "stiffness": 2.0}, 3,
     Quadratic([0.5] * 3, [2.0] * 3)),
    ({"kind": "double_well", "center": [0.0], "radius": 1.2, "depth": 0.4}, 1,
     DoubleWell([0.0], 1.2, 0.4)),
    ({"kind": "multi_well", "period": [1.0, 2.0], "depth": 0.3, "tilt": [0.1, -0.2]}, 2,
     MultiWell([1.0, 2.0], 0.3, [0.1, -0.2])),
    ({"kind": "expression", "expr": "x*y*z"}, 3, ExpressionPotential("x*y*z", 3)),
    ({"kind": "mixture_target", "centers": [[-2.0], [0.0], [2.0]], "variances": [0.5, 1.0, 0.5],
      "weights": [1.0, -2.0, 1.0], "unit_variance": 0.5}, 2, MixtureTarget(**NOTEBOOK)),
    ({"kind": "mixture_target", "centers": [-2.0, 0.0, 2.0], "variances": 0.5,
      "weights": [1.0, -2.0, 1.0], "unit_variance": 0.5}, 2,
     MixtureTarget([[-2.0], [0.0], [2.0]], [0.5] * 3, [1.0, -2.0, 1.0], 0.5)),
])
def test_potential_from_spec(spec, ndim, expected):
    pot = potential_from_spec(spec, ndim)
    assert isinstance(pot, Potential) and type(pot) is type(expected)
    assert pot.ndim == ndim
    pts = random_points(ndim)
    np.testing.assert_allclose(pot(*pts), expected(*pts), rtol=1e-14)
    for got, want in zip(pot.gradient(*pts), expected.gradient(*pts)):
        np.testing.assert_allclose(got, want, rtol=1e-14)
    assert pot.loss_offset == expected.loss_offset


@pytest.mark.parametrize("spec, ndim, message", [
    ({"kind": "banana"}, 2, "unknown potential kind"),
    ({"kind": "expression"}, 2, "needs the key 'expr'"),
    ({"kind": "quadratic", "stiffnes": 1.0}, 2, r"does not take \['stiffnes'\]"),
    ({"kind": "quadratic", "center": [0.0, 0.0, 1.0], "stiffness": 1.0}, 2, "center must be"),
    ({"kind": "double_well", "center": 0.0, "radius": 0.0, "depth": 1.0}, 1, "radius"),
    ({"kind": "expression", "expr": "x + q"}, 2, "unknown name 'q'"),
    ({"kind": "mixture_target", "centers": [[0.0]], "variances": [1.0], "weights": [1.0],
      "unit_variance": 0.5}, 1, "2 or more axes"),
    ({"kind": "mixture_target", "centers": [[0.0], [1.0]], "variances": [1.0], "weights": [1.0],
      "unit_variance": 0.5}, 2, "one centre per weight"),
    ({"kind": "mixture_target", "centers": [[0.0]], "variances": [-1.0], "weights": [1.0],
      "unit_variance": 0.5}, 2, "must be positive"),
])
def test_potential_from_spec_rejects(spec, ndim, message):
    with pytest.raises(ValueError, match=message):
        potential_from_spec(spec, ndim)
