import numpy as np
import pytest

from pdesolve.config.expression import ExpressionError
from pdesolve.model.grid import Grid
from pdesolve.model.initial import gaussian_density, initial_density_from_spec

GRIDS = [
    Grid((-3.0,), (4.0,), (37,), (False,)),
    Grid((-2.0, 0.0), (2.0, 3.0), (21, 30), (False, True)),
    Grid((-1.0, -1.0, 0.0), (1.0, 2.0, 1.0), (9, 12, 7), (True, False, False)),
]

SPECS = [
    {"kind": "gaussian", "mean": 0.3, "std": 0.5, "mass": 2.5},
    {"kind": "uniform", "mass": 0.7},
    {"kind": "expression", "expr": "1 + x**2", "mass": 3.0},
    {"kind": "gaussian", "mean": 0.0, "std": 1.0},
]


def check_array(mu, grid):
    assert mu.shape == grid.shape
    assert mu.dtype == np.float64
    assert mu.flags.c_contiguous
    assert np.all(mu >= 0)


@pytest.mark.parametrize("grid", GRIDS)
@pytest.mark.parametrize("spec", SPECS)
def test_mass_is_exact(grid, spec):
    mu = initial_density_from_spec(spec, grid)
    check_array(mu, grid)
    assert abs(grid.integrate(mu) - spec.get("mass", 1.0)) <= 1e-12 * spec.get("mass", 1.0)


def test_gaussian_mean_and_std_on_fine_grid():
    grid = Grid((-6.0, -7.0), (6.0, 9.0), (600, 640), (False, False))
    mean, std = [0.4, 1.1], [0.8, 1.3]
    mu = gaussian_density(grid, mean, std, mass=2.0)
    x, y = grid.mesh()
    mass = grid.integrate(mu)
    assert mass == pytest.approx(2.0, rel=1e-13)
    for coord, m, s in zip((x, y), mean, std):
        first = grid.integrate(coord * mu) / mass
        var = grid.integrate((coord - first) ** 2 * mu) / mass
        assert first == pytest.approx(m, abs=1e-8)
        assert np.sqrt(var) == pytest.approx(s, rel=1e-4)


def test_gaussian_is_a_product_of_normal_densities():
    grid = Grid((-4.0, -4.0, -4.0), (4.0, 4.0, 4.0), (16, 18, 20), (False,) * 3)
    mu = gaussian_density(grid, [0.1, -0.2, 0.3], [1.0, 0.7, 0.9])
    x, y, z = grid.mesh()
    want = np.exp(-0.5 * ((x - 0.1) ** 2 + ((y + 0.2) / 0.7) ** 2 + ((z - 0.3) / 0.9) ** 2))
    ratio = mu / want
    np.testing.assert_allclose(ratio, ratio.flat[0], rtol=1e-12)


def test_uniform_is_constant():
    grid = GRIDS[1]
    mu = initial_density_from_spec({"kind": "uniform", "mass": 6.0}, grid)
    np.testing.assert_allclose(mu, 6.0 / (4.0 * 3.0), rtol=1e-14)


def test_expression_shape_is_kept():
    grid = GRIDS[1]
    mu = initial_density_from_spec({"kind": "expression", "expr": "exp(-x**2) * (1 + y)"}, grid)
    x, y = grid.mesh()
    want = np.exp(-x ** 2) * (1 + y)
    np.testing.assert_allclose(mu / want, (mu / want).flat[0], rtol=1e-12)


@pytest.mark.parametrize("expr, message", [
    ("x", "negative"),
    ("0*x", "integrates to 0"),
    ("1/(x - x)", "not finite"),
    ("sqrt(x)", "not finite"),
])
def test_bad_expressions_are_rejected(expr, message):
    grid = GRIDS[0]
    with pytest.raises(ValueError, match=message):
        initial_density_from_spec({"kind": "expression", "expr": expr}, grid)


def test_unsafe_expression_is_rejected():
    with pytest.raises(ExpressionError):
        initial_density_from_spec({"kind": "expression", "expr": "__import__('os')"}, GRIDS[0])


@pytest.mark.parametrize("spec, message", [
    ({"kind": "gaussian", "mean": 0.0, "std": 0.0}, "std must be positive"),
    ({"kind": "expression", "mass": 2.0}, "needs the key 'expr'"),
    ({"kind": "uniform", "std": 1.0}, r"does not take \['std'\]"),
    ({"kind": "gaussian", "mean": [0.0, 1.0], "std": 1.0}, "mean must be a number or 1 numbers"),
    ({"kind": "gaussian", "mean": 100.0, "std": 0.1}, "cannot normalise"),
    ({"kind": "uniform", "mass": -1.0}, "mass must be positive"),
    ({"kind": "delta"}, "unknown initial density kind"),
])
def test_invalid_specs(spec, message):
    with pytest.raises(ValueError, match=message):
        initial_density_from_spec(spec, GRIDS[0])


def test_gaussian_is_not_wrapped_on_periodic_axes():
    grid = Grid((0.0,), (1.0,), (100,), (True,))
    mu = gaussian_density(grid, 0.95, 0.1)
    # a wrapped Gaussian would have mu near x = 0 equal to mu near x = 0.9
    assert mu[0] < mu[90] * 0.1
