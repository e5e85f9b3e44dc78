"""The particle–mesh method in 1, 2 and 3 dimensions: exact properties of the
cloud-in-cell stencil, and second-order agreement of PM with the direct pair sum."""
import numpy as np
import pytest

from pdesolve.model.grid import Grid
from pdesolve.model.interaction import ConvolutionInteraction, GaussianKernel
from pdesolve.particles.interaction import DirectInteraction, MeshInteraction
from pdesolve.particles.mesh_kernels import cic_interpolate, cic_interpolate_gradient

GRIDS = {
    1: Grid((-2.0,), (3.0,), (20,), (False,)),
    2: Grid((-2.0, -1.0), (3.0, 2.0), (20, 13), (False, True)),
    3: Grid((-2.0, -1.0, 0.0), (3.0, 2.0, 1.5), (12, 9, 7), (True, False, False)),
}


def interior_positions(grid, n, seed):
    """Points between the first and the last cell centre of every axis (no wall clamping)."""
    rng = np.random.default_rng(seed)
    low = np.array(grid.lower) + 0.5 * np.array(grid.spacing)
    high = np.array(grid.upper) - 0.5 * np.array(grid.spacing)
    return np.ascontiguousarray(rng.uniform(low, high, (n, grid.ndim)))


def mesh_of(grid):
    return MeshInteraction(ConvolutionInteraction(grid, GaussianKernel(1.0, 1.0), workers=1))


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_deposit_keeps_mass_and_the_first_moment_exactly(ndim):
    """Cloud-in-cell is exact for affine functions: Σ_c m_c = Σ_p w_p and Σ_c m_c x_c =
    Σ_p w_p x_p on every axis, for particles inside the centres."""
    grid = GRIDS[ndim]
    positions = interior_positions(grid, 300, ndim)
    weights = np.random.default_rng(9).random(300)
    density = np.zeros(grid.shape)
    mesh_of(grid).deposit(positions, weights, density)
    masses = density * grid.cell_volume
    assert masses.sum() == pytest.approx(weights.sum(), rel=1e-13)
    assert masses.min() >= 0
    for a, x in enumerate(grid.mesh()):
        assert (masses * x).sum() == pytest.approx(weights @ positions[:, a], rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_deposit_of_one_particle_on_each_stencil_weight(ndim):
    """A particle at fraction f of the way between two centres puts (1 − f, f) of its
    weight on them, per axis."""
    grid = GRIDS[ndim]
    f = np.array([0.2, 0.35, 0.7][:ndim])
    position = np.array(grid.lower) + (np.array([3, 4, 2][:ndim]) + 0.5 + f) * np.array(grid.spacing)
    density = np.zeros(grid.shape)
    mesh_of(grid).deposit(position[None, :], np.array([1.0]), density)
    masses = density * grid.cell_volume
    for corner in np.ndindex(*(2,) * ndim):
        cell = tuple(np.array([3, 4, 2][:ndim]) + corner)
        expected = np.prod([fa if c else 1 - fa for fa, c in zip(f, corner)])
        assert masses[cell] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_interpolation_reproduces_multilinear_fields(ndim):
    """Multilinear interpolation is exact for functions linear in each coordinate
    separately (here 1 + Σ_a s_a x_a + x_0 x_last), and so is the interpolated gradient
    of an affine field."""
    grid = GRIDS[ndim]
    coords = grid.mesh()
    slopes = np.array([1.5, -0.7, 0.4][:ndim])

    def field(*x):
        value = 1.0 + sum(s * xa for s, xa in zip(slopes, x))
        return value + (x[0] * x[-1] if ndim > 1 else 0.0)

    values3d = grid.as3d(field(*coords))
    positions = interior_positions(grid, 200, 10 + ndim)
    mesh = mesh_of(grid)
    out = np.zeros(200)
    cic_interpolate(values3d, positions, mesh._lower, mesh._spacing, mesh._cells, mesh._periodic, out)
    np.testing.assert_allclose(out, field(*positions.T), rtol=1e-12, atol=1e-12)
    affine = grid.as3d(1.0 + sum(s * xa for s, xa in zip(slopes, coords)))
    fields = np.zeros(affine.shape + (1 + ndim,))
    fields[..., 0] = affine
    fields[..., 1:] = slopes
    values, gradient = np.zeros(200), np.zeros((200, ndim))
    cic_interpolate_gradient(fields, positions, mesh._lower, mesh._spacing, mesh._cells,
                             mesh._periodic, values, gradient)
    np.testing.assert_allclose(values, 1.0 + positions @ slopes, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gradient, np.broadcast_to(slopes, gradient.shape), rtol=1e-12)


@pytest.mark.parametrize("ndim, coarse", [(1, 64), (2, 32), (3, 12)])
def test_particle_mesh_matches_direct_sum_to_second_order(ndim, coarse):
    """max |PM − direct| over V and ∇V falls like h² (ratio ≈ 1/4 per halving of h)."""
    rng = np.random.default_rng(5)
    n = 1500
    positions = np.ascontiguousarray(rng.normal(0.0, 0.8, (n, ndim)).clip(-3.0, 3.0))
    weights = np.full(n, 1.0 / n)
    errors = []
    for cells in (coarse, 2 * coarse):
        grid = Grid((-4.0,) * ndim, (4.0,) * ndim, (cells,) * ndim, (False,) * ndim)
        interaction = ConvolutionInteraction(grid, GaussianKernel(1.0, 1.0), workers=1)
        results = []
        for evaluator in (DirectInteraction(interaction), MeshInteraction(interaction)):
            v, g = np.zeros(n), np.zeros((n, ndim))
            evaluator.evaluate(positions, weights, v, g)
            results.append(np.concatenate((v, g.ravel())))
        errors.append(np.max(np.abs(results[1] - results[0])))
    h = 8.0 / coarse
    assert errors[0] < 0.3 * h ** 2, errors
    assert errors[1] < 0.35 * errors[0], errors


# --- against a NumPy transcription of the stencil, over the whole box -------------------------

MIXED = {
    1: [Grid((-2.0,), (3.0,), (9,), (p,)) for p in (False, True)],
    2: [Grid((-2.0, -1.0), (3.0, 2.0), (9, 6), p) for p in ((False, True), (True, False))],
    3: [Grid((-2.0, -1.0, 0.0), (3.0, 2.0, 1.5), (7, 5, 4), p)
        for p in ((True, False, True), (False, True, False))],
}


def reference_stencil(x, lower, h, n, periodic, clamp):
    """(left, right, f) per particle on one axis, as mesh_kernels' docstring states it."""
    s = (x - lower) / h - 0.5
    left = np.floor(s).astype(int)
    if periodic:
        f = s - left
        left %= n
        return left, (left + 1) % n, f
    left = np.clip(left, 0, n - 2)
    f = s - left
    return left, left + 1, (np.clip(f, 0.0, 1.0) if clamp else f)


def reference_corners(grid, positions, clamp):
    """[(index tuple per particle, weight per particle)] over the 2^d cells of each stencil."""
    axes = [reference_stencil(positions[:, a], grid.lower[a], grid.spacing[a], grid.cells[a],
                              grid.periodic[a], clamp) for a in range(grid.ndim)]
    corners = []
    for corner in np.ndindex(*(2,) * grid.ndim):
        index = tuple(ax[1] if c else ax[0] for ax, c in zip(axes, corner))
        weight = np.prod([ax[2] if c else 1 - ax[2] for ax, c in zip(axes, corner)], axis=0)
        corners.append((index, weight))
    return corners


def anywhere(grid, n, seed):
    """Points over the whole box, walls and wrap included, some within h/2 of the ends."""
    rng = np.random.default_rng(seed)
    low, high = np.array(grid.lower), np.array(grid.upper)
    points = rng.uniform(low, high, (n, grid.ndim))
    edge = rng.uniform(0, 0.5, (n // 4, grid.ndim)) * np.array(grid.spacing)
    points[: n // 8] = low + edge[: n // 8]
    points[n // 8: n // 4] = high - edge[n // 8: n // 4]
    return np.ascontiguousarray(points)


@pytest.mark.parametrize("case", range(2))
@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_deposit_and_interpolation_match_the_stencil_everywhere(ndim, case):
    """Walls (mass between a wall and the first centre goes to the boundary cell; values
    there are extrapolated), periodic wraps, and axes of different periodicity."""
    grid = MIXED[ndim][case]
    positions = anywhere(grid, 400, 20 + ndim + case)
    weights = np.random.default_rng(1).random(400)
    mesh = mesh_of(grid)
    density = np.zeros(grid.shape)
    mesh.deposit(positions, weights, density)
    expected = np.zeros(grid.shape)
    for index, weight in reference_corners(grid, positions, clamp=True):
        np.add.at(expected, index, weights * weight)
    np.testing.assert_allclose(density * grid.cell_volume, expected, rtol=1e-12, atol=1e-14)
    field = np.random.default_rng(2).normal(size=grid.shape)
    corners = reference_corners(grid, positions, clamp=False)
    expected_values = sum(field[index] * weight for index, weight in corners)
    out = np.zeros(400)
    cic_interpolate(grid.as3d(field), positions, mesh._lower, mesh._spacing, mesh._cells,
                    mesh._periodic, out)
    np.testing.assert_allclose(out, expected_values, rtol=1e-12, atol=1e-12)
    fields = np.random.default_rng(3).normal(size=grid.shape + (1 + ndim,))
    values, gradient = np.zeros(400), np.zeros((400, ndim))
    cic_interpolate_gradient(fields.reshape(grid.as3d(field).shape + (1 + ndim,)), positions,
                             mesh._lower, mesh._spacing, mesh._cells, mesh._periodic, values, gradient)
    np.testing.assert_allclose(values, sum(fields[index + (0,)] * w for index, w in corners), rtol=1e-12,
                               atol=1e-12)
    for a in range(ndim):
        np.testing.assert_allclose(gradient[:, a], sum(fields[index + (1 + a,)] * w for index, w in corners),
                                   rtol=1e-12, atol=1e-12)
